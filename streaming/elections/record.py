"""An election's tamper-evident record, and its offline verification.

Every fact of an election is one entry of an append-only chain; each entry holds the SHA-256
of the one before, and the server signs checkpoints (the hash of an entry) with an Ed25519 key.
The export is a JSON document laid out one entry per line, whose bytes are fixed by its content,
so that a changed, moved or missing byte anywhere is found, and the entry it is in named. The
format is specified in docs/election-record.md, from which anyone can write a verifier; this
module's ``verify`` is ours, and needs neither the database nor the server's key.
"""

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.i18n import N_
from streaming.elections.rules import (
    Basis,
    Entry,
    ballot_entry,
    count_entries,
    rank,
    recommender_weights,
    tally,
)

FORMAT = "yuanjiao-election-record/1"
GENESIS = "0" * 64
"""The ``prev`` of the first entry."""


def canonical(value: Any) -> bytes:
    """The bytes hashed and signed: JSON with object keys sorted by code point, no spaces,
    UTF-8 with non-ASCII characters as they are; integers are the only numbers
    (docs/election-record.md states it exactly)."""
    _check(value)
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def _check(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"a key that is not text: {key!r}")
            _check(item)
    elif isinstance(value, list):
        for item in value:
            _check(item)
    elif isinstance(value, float) or not isinstance(value, str | int | bool | type(None)):
        raise ValueError(f"not allowed in the record: {value!r}")


def digest(entry: Mapping[str, Any]) -> str:
    """An entry's hash: SHA-256 of its canonical bytes, in lowercase hex."""
    return hashlib.sha256(canonical(dict(entry))).hexdigest()


def link(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``entries`` (seq, at, kind, author, data) chained: numbered from 1, each with the hash
    of the one before as ``prev``."""
    chained: list[dict[str, Any]] = []
    prev = GENESIS
    for seq, entry in enumerate(entries, start=1):
        fields = {k: entry[k] for k in ("at", "kind", "author", "data")}
        chained.append({**fields, "seq": seq, "prev": prev})
        prev = digest(chained[-1])
    return chained


def checkpoint_message(election: str, seq: int, entry_hash: str) -> bytes:
    """What a checkpoint's signature signs."""
    return canonical({"election": election, "hash": entry_hash, "seq": seq})


def sign_checkpoint(key: Ed25519PrivateKey, election: str, seq: int, entry_hash: str) -> dict:
    signature = key.sign(checkpoint_message(election, seq, entry_hash))
    return {"seq": seq, "hash": entry_hash, "signature": base64.b64encode(signature).decode()}


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The public half as published: the raw 32 bytes in base64."""
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def layout(document: Mapping[str, Any]) -> bytes:
    """The export's bytes: canonical JSON, but with each entry and checkpoint on a line of its
    own (a verifier rebuilds these bytes from the parsed document and compares)."""
    head = {k: document[k] for k in ("format", "election", "public_key")}
    lines = [canonical(head)[:-1].decode() + ',"entries":[']
    lines += [canonical(e).decode() + "," for e in document["entries"]]
    if document["entries"]:
        lines[-1] = lines[-1][:-1]
    lines.append('],"checkpoints":[')
    lines += [canonical(c).decode() + "," for c in document["checkpoints"]]
    if document["checkpoints"]:
        lines[-1] = lines[-1][:-1]
    lines.append('],"results":' + canonical(document["results"]).decode() + "}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def make_record(
    election: Mapping[str, Any],
    facts: Iterable[Mapping[str, Any]],
    key: Ed25519PrivateKey,
    every: int = 20,
) -> dict[str, Any]:
    """The export of ``election`` (its id, title, org) from its facts (at, kind, author, data)
    in order: chained after an entry describing the election, a checkpoint signed every
    ``every`` entries and at the last, with the results recomputed from the entries."""
    facts = list(facts)
    opening = {"at": facts[0]["at"] if facts else "", "kind": "election", "author": ""}
    entries = link([{**opening, "data": dict(election)}, *facts])
    election_id = str(election["id"])
    checkpoints = [
        sign_checkpoint(key, election_id, entry["seq"], digest(entry))
        for entry in entries
        if entry["seq"] % every == 0 or entry is entries[-1]
    ]
    return document(election, entries, checkpoints, public_key_text(key))


def document(
    election: Mapping[str, Any],
    entries: list[dict[str, Any]],
    checkpoints: list[dict[str, Any]],
    public_key: str,
) -> dict[str, Any]:
    """The export's content (``layout`` gives its bytes)."""
    return {
        "format": FORMAT,
        "election": dict(election),
        "public_key": public_key,
        "entries": entries,
        "checkpoints": checkpoints,
        "results": results_of(entries),
    }


def results_of(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Every round's count recomputed from the entries alone (streaming.elections.rules): the
    round as opened (candidates, seats, basis), its roll, its ballots and its void; and the
    recommendation round's ranked list, under ``"recommendation"``, when one was opened."""
    entries = list(entries)
    rounds: dict[int, dict[str, Any]] = {}
    rolls: dict[int, tuple[int, int]] = {}  # the roll is taken first, in the round's step 1
    voids: dict[int, str] = {}
    ballots: list[Entry] = []
    for entry in entries:
        data = entry["data"]
        kind = entry["kind"]
        if kind == "round_opened":
            rounds[data["round"]] = dict(data)
        elif kind == "roll":
            rolls[data["round"]] = (data["present"], data["expected"])
        elif kind == "round_void":
            voids[data["round"]] = data["reason"]
        elif kind in ("ballot", "settlement"):
            ballots.append(ballot_entry(entry))
    results: dict[str, Any] = {}
    for number, opened in sorted(rounds.items()):
        if number in voids:
            results[str(number)] = {"void": voids[number]}
            continue
        counted = count_entries(ballots, number)
        present, expected = rolls.get(number, (0, 0))
        figures = tally(
            counted.agreed,
            opened["candidates"],
            opened["seats"],
            present=present,
            expected=expected,
            basis=Basis(opened.get("basis", Basis.present)),
        )
        results[str(number)] = {**figures.as_dict(), "held": counted.held}
    recommended = recommendation_of(entries)
    if recommended is not None:
        results["recommendation"] = recommended
    return results


def recommendation_of(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The recommendation round's ranked list (streaming.elections.rules.rank), or None when
    no round was opened: each recommender's first set, with the weight the opening gave them
    (the electorate's, or an extra recommender's own); a set by anyone else counts for nothing."""
    electorate: list[int] = []
    weights: dict[int, int] | None = None
    sets: dict[int, list[str]] = {}
    for entry in entries:
        data = entry["data"]
        if entry["kind"] == "electorate":
            electorate = data["members"]
        elif entry["kind"] == "recommendation_opened":
            weights = recommender_weights(electorate, data)
        elif entry["kind"] == "recommendation" and data["member"] in (weights or {}):
            sets.setdefault(data["member"], data["names"])
    if weights is None:
        return None
    ranking = rank((weights[member], names) for member, names in sets.items())
    return {"sets": len(sets), "ranking": [ranked.as_dict() for ranked in ranking]}


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with an export, and where: ``entry`` is its seq when it is in an
    entry (else ``part`` names the part: the head, a checkpoint, the results)."""

    what: str
    entry: int | None = None
    part: str = ""

    def __str__(self) -> str:
        where = f"entry {self.entry}" if self.entry is not None else self.part
        return f"{where}: {self.what}"


def verify(data: bytes) -> Problem | None:
    """None when the export is intact: its bytes are its canonical layout, every entry links to
    the one before, every checkpoint's signature holds, the last entry is signed, and the
    results recomputed from the entries are the ones announced."""
    lines = data.split(b"\n")
    try:
        document = json.loads(data.decode("utf-8"))
        rebuilt = layout(document)
    except (ValueError, KeyError, TypeError) as exc:
        return _where(lines, _first_bad_line(lines, None), f"not a record in this format ({exc})")
    if rebuilt != data:
        line = _first_bad_line(lines, rebuilt.split(b"\n"))
        return _where(lines, line, N_("its bytes are not the record's canonical layout"))
    if document.get("format") != FORMAT:
        return Problem(f"unknown format {document.get('format')!r}", part="head")
    if not isinstance(document["election"], dict) or "id" not in document["election"]:
        return Problem(N_("the election is not described"), part="head")
    try:
        return _verify_content(document)
    except (KeyError, TypeError, ValueError) as exc:  # a part missing or of the wrong type
        return Problem(f"malformed ({exc!r})", part="record")


def _verify_content(document: Mapping[str, Any]) -> Problem | None:
    entries: list[dict[str, Any]] = document["entries"]
    problem = _signatures(document)
    if problem is not None:
        return problem
    signed = {c["seq"]: c["hash"] for c in document["checkpoints"]}
    broken = _broken_link(entries, signed)
    if broken is not None:
        return Problem(N_("changed: it does not hash to what follows it records"), entry=broken)
    opening = entries[0] if entries else {}
    if opening.get("kind") != "election" or opening.get("data") != document["election"]:
        return Problem(
            N_("the election described is not the one its first entry records"), part="head"
        )
    if entries and entries[-1]["seq"] not in signed:
        return Problem(N_("the last entry is not signed"), entry=entries[-1]["seq"])
    recomputed = results_of(entries)
    for entry in entries:
        if entry["kind"] == "announced":
            round_ = str(entry["data"]["round"])
            if entry["data"]["result"] != recomputed.get(round_):
                return Problem(N_("announces a result the ballots do not give"), entry=entry["seq"])
    problem = _confirmed(entries, recomputed.get("recommendation"))
    if problem is not None:
        return problem
    if document["results"] != recomputed:
        return Problem(N_("differ from the results the entries give"), part="results")
    return None


def _confirmed(
    entries: list[dict[str, Any]], recommended: Mapping[str, Any] | None
) -> Problem | None:
    """The initial candidates confirmed are names of the recomputed ranked list, and the first
    round's ballot carries them (in any order)."""
    ranked = {row["name"] for row in (recommended or {}).get("ranking", [])}
    confirmed: list[str] | None = None
    for entry in entries:
        data, seq = entry["data"], entry["seq"]
        if entry["kind"] == "candidates_confirmed":
            confirmed = sorted(data["candidates"])
            if not set(confirmed) <= ranked:
                return Problem(N_("confirms a name the ranked list does not hold"), entry=seq)
        elif (
            entry["kind"] == "round_opened"
            and data["round"] == 1
            and confirmed not in (None, sorted(data["candidates"]))
        ):
            return Problem(N_("opens the vote on other candidates than those confirmed"), entry=seq)
    return None


def _signatures(document: Mapping[str, Any]) -> Problem | None:
    """Every checkpoint's signature, by the published key, of its entry's seq and hash."""
    try:
        key = Ed25519PublicKey.from_public_bytes(strict_base64(document["public_key"]))
    except ValueError:
        return Problem(N_("the public key is not a raw Ed25519 key in base64"), part="head")
    election = str(document["election"]["id"])
    for number, checkpoint in enumerate(document["checkpoints"], start=1):
        message = checkpoint_message(election, checkpoint["seq"], checkpoint["hash"])
        try:
            key.verify(strict_base64(checkpoint["signature"]), message)
        except (InvalidSignature, ValueError):
            return Problem(N_("its signature does not hold"), part=f"checkpoint {number}")
    return None


def strict_base64(text: str) -> bytes:
    """Base64 as we write it, and only so: other spellings of the same bytes (unused low bits
    set in the last character) are refused, so that no byte of a record goes unchecked."""
    decoded = base64.b64decode(text, validate=True)
    if base64.b64encode(decoded).decode() != text:
        raise ValueError("not canonical base64")
    return decoded


def _broken_link(entries: list[dict[str, Any]], signed: Mapping[int, str]) -> int | None:
    """The seq of the first changed entry. An entry whose hash differs from what the next one
    records as ``prev`` (or from its signed checkpoint) was changed; when that next entry
    differs from its own successor too, it is the next entry's ``prev`` that changed: name it."""
    for position, entry in enumerate(entries, start=1):
        if entry.get("seq") != position or not isinstance(entry.get("prev"), str):
            return position
    if entries and entries[0]["prev"] != GENESIS:
        return 1
    mismatched = []
    for i, entry in enumerate(entries):
        wanted = {
            signed.get(entry["seq"]),
            entries[i + 1]["prev"] if i + 1 < len(entries) else None,
        }
        mismatched.append(bool(wanted - {None, digest(entry)}))
    for i, bad in enumerate(mismatched):
        if bad:
            return i + 2 if i + 1 < len(mismatched) and mismatched[i + 1] else i + 1
    return None


def _first_bad_line(lines: list[bytes], rebuilt: list[bytes] | None) -> int:
    """The first line that differs from the rebuilt layout; with none to compare (the document
    did not parse), the first entry line that is not an object followed by its comma, else the
    line the parser stopped at."""
    if rebuilt is not None:
        return next(
            (n for n, line in enumerate(lines) if n >= len(rebuilt) or rebuilt[n] != line),
            len(lines) - 1,
        )
    first, last = _entry_lines(lines)
    for number in range(first, last):
        line = lines[number]
        comma = number < last - 1
        try:
            parsed = json.loads((line[:-1] if comma else line).decode("utf-8"))
        except ValueError:
            return number
        if not isinstance(parsed, dict) or line.endswith(b",") != comma:
            return number
    try:
        json.loads(b"\n".join(lines).decode("utf-8"))
    except json.JSONDecodeError as exc:
        return exc.lineno - 1
    except ValueError:
        pass
    return len(lines) - 1


def _entry_lines(lines: list[bytes]) -> tuple[int, int]:
    """The lines of the entries: from after the head's line to before the checkpoints' line."""
    head = next((n for n, line in enumerate(lines) if line.endswith(b'"entries":[')), None)
    tail = next((n for n, line in enumerate(lines) if line == b'],"checkpoints":['), None)
    if head is None or tail is None or tail < head:
        return 0, 0
    return head + 1, tail


def _where(lines: list[bytes], number: int, what: str) -> Problem:
    """A problem on line ``number``: in the entry written there, or in another part."""
    first, last = _entry_lines(lines)
    if first <= number < last:
        return Problem(what, entry=number - first + 1)
    if last and number > last and lines[number].startswith(b"{"):
        return Problem(what, part=f"checkpoint {number - last}")
    return Problem(what, part="head" if number < first or not last else "results")
