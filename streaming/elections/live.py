"""The live tally: an election's public standing, recomputed from its record whenever the record
grows, and sent to everyone watching.

Viewers served by the app follow it over server-sent events. Every web process watches the
record itself (one indexed query every ``POLL_SECONDS`` per election somebody follows), so a
fact recorded through any node reaches the viewers of every node through the database; the
process that records a fact wakes its own watcher at once. Each change is rendered once, as the
bytes of one SSE message, and those same bytes go to every viewer. Audiences served through a
CDN poll a small snapshot in object storage instead, rewritten after each recorded fact but at
most once a second.
"""

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import suppress
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.api import unit_of_work
from core.storage import get_store
from streaming.elections.models import Election, ElectionEntry
from streaming.elections.procedure import state_of
from streaming.elections.record import results_of
from streaming.elections.rules import reconciliation
from streaming.elections.service import entries_of

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # a viewer sees an entry within about this, plus the fan-out (≤ 1 s)
BACKLOG = 32  # messages kept for viewers a little behind (and standings rendered per look)
SNAPSHOT_EVERY = 1.0  # seconds between two writes of a snapshot to object storage, at least
KEEP_ALIVE_SECONDS = 15.0  # a comment now and then keeps proxies from closing a quiet stream


def snapshot_key(election_id: int) -> str:
    return f"elections/{election_id}/standing.json"


def standing(election_id: int, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the watch page shows of the round in hand: the step, attendance and quorum, the
    ballots at each venue and the tally so far (counts only: which ballots were invalid and why
    is on the record and the election's page)."""
    state = state_of(entries)
    opened = next(
        (
            e["data"]
            for e in reversed(entries)
            if e["kind"] == "round_opened" and e["data"]["round"] == state.round
        ),
        None,
    )
    result = results_of(entries).get(str(state.round), {})
    venues = sorted(set(state.issued) | set(state.returned))
    tally = None
    if opened is not None:
        tally = {
            "candidates": opened["candidates"],
            "seats": opened["seats"],
            "basis": opened.get("basis", "present"),
            "void": result.get("void"),
            "votes": result.get("votes", {}),
            "write_ins": result.get("write_ins", {}),
            "valid": result.get("valid", 0),
            "invalid": len(result.get("invalid", {})),
            "held": len(result.get("held", [])),
            "threshold": result.get("threshold", 0),
            "elected": result.get("elected", []),
            "runoff": result.get("runoff", []),
        }
    return {
        "election": election_id,
        "seq": entries[-1]["seq"] if entries else 0,
        "step": int(state.step) if state.step is not None else None,
        "recommending": state.phase.value,  # the recommendation round: "", open, closed, confirmed
        "round": state.round,
        "adjourned": state.adjourned,
        "present": state.present,
        "expected": state.expected,
        "quorate": state.quorate,
        "venues": [
            {"venue": v, "issued": state.issued.get(v), "returned": state.returned.get(v)}
            for v in venues
        ],
        "over": reconciliation(state.issued, state.returned),
        "tally": tally,
        "announced": any(
            e["kind"] == "announced" and e["data"]["round"] == state.round for e in entries
        ),
    }


def standings_since(session: Session, election_id: int, after: int) -> list[dict[str, Any]]:
    """The standing after each entry recorded since entry ``after`` (the last ``BACKLOG`` of
    them), so that a viewer sees every confirmed entry; only the latest when ``after`` is not
    a point of this record (the first look, or a record that is not the one seen before)."""
    election = session.get(Election, election_id)
    if election is None:  # gone (a test's database wiped): nothing to send
        return []
    entries = entries_of(session, election)
    if not entries or not 0 <= after < len(entries):
        return [standing(election_id, entries)]
    return [
        standing(election_id, entries[:upto])
        for upto in range(max(after + 1, len(entries) - BACKLOG + 1), len(entries) + 1)
    ]


def last_seq(session: Session, election_id: int) -> int:
    found = session.scalar(
        select(func.max(ElectionEntry.seq)).where(ElectionEntry.election_id == election_id)
    )
    return found or 0


def sse_message(figures: Mapping[str, Any]) -> bytes:
    data = json.dumps(figures, ensure_ascii=False, separators=(",", ":"))
    return f"id: {figures['seq']}\nevent: standing\ndata: {data}\n\n".encode()


KEEP_ALIVE = b": keep-alive\n\n"
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # a proxy in front passes each message on at once
}


class Channel:
    """One election's live standing in this process, while anybody here follows it: the
    messages sent lately, each numbered, so that a viewer gets every one after its last."""

    def __init__(self, election_id: int) -> None:
        self.election_id = election_id
        self.seq = -1  # the record's last entry, as last read
        self.latest = b""  # the latest standing, for a viewer who arrives or falls behind
        self.sent: deque[tuple[int, bytes]] = deque(maxlen=BACKLOG)
        self.number = 0  # of the last message
        self.followers = 0
        self.changed = asyncio.Event()  # replaced by a new one at each message
        self.wake = asyncio.Event()
        self.watcher: asyncio.Task[None] | None = None

    def publish(self, message: bytes) -> None:
        self.number += 1
        self.sent.append((self.number, message))
        self.changed.set()
        self.changed = asyncio.Event()

    def since(self, number: int) -> bytes:
        """Every message after message ``number``; the latest standing if it is too far back."""
        if not self.sent or number < self.sent[0][0] - 1:
            return self.latest
        return b"".join(message for n, message in self.sent if n > number)

    async def watch(self) -> None:
        """Follow the record, every ``POLL_SECONDS`` from the start of the last look (or at
        once when a fact is recorded here), until nobody here follows the election; a quiet
        stream gets a keep-alive now and then."""
        loop = asyncio.get_running_loop()
        due = spoken = loop.time()
        while self.followers:
            self.wake.clear()  # a fact recorded here while this look reads is looked at next
            try:
                seq = await unit_of_work(lambda session: last_seq(session, self.election_id))
                if seq != self.seq:
                    standings = await unit_of_work(
                        partial(standings_since, election_id=self.election_id, after=self.seq)
                    )
                    for figures in standings:
                        self.latest = sse_message(figures)
                        self.publish(self.latest)
                        self.seq, spoken = figures["seq"], loop.time()
                elif loop.time() - spoken >= KEEP_ALIVE_SECONDS:
                    self.publish(KEEP_ALIVE)
                    spoken = loop.time()
            except Exception:  # the database away a moment: viewers keep the last standing
                log.warning("election %s: cannot read its record", self.election_id, exc_info=True)
            due = max(due + POLL_SECONDS, loop.time())
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), due - loop.time())


class LiveFeed:
    """The elections followed in this process, and the snapshots it writes."""

    def __init__(self) -> None:
        self.channels: dict[int, Channel] = {}
        self.written: dict[int, float] = {}  # election -> when its snapshot was last written
        self.pending: dict[int, asyncio.Task[None]] = {}

    async def follow(self, election_id: int) -> AsyncIterator[bytes]:
        """The standing now, then after each entry, as SSE messages, for as long as the viewer
        stays (a viewer who falls far behind gets the latest standing, not every one between).
        Each message is rendered once, for every viewer."""
        channel = self.channels.get(election_id)
        if channel is None:
            channel = self.channels[election_id] = Channel(election_id)
        channel.followers += 1
        if channel.watcher is None or channel.watcher.done():
            channel.watcher = asyncio.ensure_future(channel.watch())
        number = None
        try:
            while True:
                if number is None and channel.latest:  # the standing now
                    number = channel.number
                    yield channel.latest
                elif number is not None and channel.number > number:
                    chunk, number = channel.since(number), channel.number
                    yield chunk
                else:
                    await channel.changed.wait()
        finally:
            channel.followers -= 1
            if not channel.followers:
                channel.wake.set()
                self.channels.pop(election_id, None)

    async def recorded(self, election_id: int) -> None:
        """A fact was recorded here (and committed): the viewers here see it now, and the
        snapshot is rewritten (at most once a second; a later write carries what came between)."""
        channel = self.channels.get(election_id)
        if channel is not None:
            channel.wake.set()
        if election_id in self.pending:
            return
        wait = self.written.get(election_id, 0.0) + SNAPSHOT_EVERY - time.monotonic()
        self.pending[election_id] = asyncio.ensure_future(self._write(election_id, max(wait, 0)))

    async def _write(self, election_id: int, after: float) -> None:
        try:
            await asyncio.sleep(after)
            self.written[election_id] = time.monotonic()
            del self.pending[election_id]
            await unit_of_work(lambda session: write_snapshot(session, election_id))
        except Exception:  # the store away: the next fact writes it again
            log.warning("election %s: snapshot not written", election_id, exc_info=True)
        finally:
            self.pending.pop(election_id, None)

    async def close(self) -> None:
        tasks = [c.watcher for c in self.channels.values() if c.watcher] + list(
            self.pending.values()
        )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def write_snapshot(session: Session, election_id: int) -> None:
    """The standing as a small JSON object in storage, for pages served through a CDN."""
    for figures in standings_since(session, election_id, -1):  # the latest, if any
        get_store().put_bytes(
            snapshot_key(election_id),
            json.dumps(figures, ensure_ascii=False, separators=(",", ":")).encode(),
            content_type="application/json",
        )
