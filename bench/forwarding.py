"""Forwarding benchmark: what one more subscriber stream costs the server when encoded frames
are forwarded (streaming.media) against stock aiortc relaying (decode once, one libx264 encoder
per subscriber), in one run on loopback; prints `cost_ratio=R streams_per_core=N loss_pct=L
p95_latency_ms=T`.

The source is a 640x480, 30 fps, ~1 Mbps H.264 clip (libx264 baseline, a keyframe every
second, testsrc2 so that it moves), made once per run with ffmpeg and read back as access units
with PyAV: demuxed, never decoded. Processes are kept apart so that the forwarder's
process-wide patch (passthrough.install) and the CPU accounting stay honest on 2 cores:
- the publisher sends the clip in a loop, 30 frames a second, already encoded (aiortc's sender
  only packetizes it), each access unit led by an SEI NAL (user_data_unregistered) carrying a
  frame sequence number and the wall-clock time the frame left. Its keyframes come every
  second whatever the server asks, so a joining subscriber waits at most that long;
- the server, a fresh one per mode: `forward` is a Feed and one Outlet per subscriber;
  `stock` decodes the publisher and hands each subscriber a (buffered) MediaRelay proxy that
  its sender re-encodes, as aiortc's examples relay. Signalling is JSON lines over loopback
  TCP; a subscriber's TCP connection lasts as long as its peer connection;
- `--client-processes` subscriber processes share the subscribers. They install the
  passthrough too, so they only reassemble frames: aiortc's receive path alone costs each
  stream more than the forwarder's send path does (the table's `clients`), which is what bounds
  `--subscribers` on this machine; decoding too would starve the server. A frame's latency is
  its arrival minus the time in its SEI (one machine, one clock): both hops and the server,
  including aiortc's jitter buffers, which release a frame only when the next frame's first
  packet arrives (about one frame interval per hop). Loss is the sequence numbers missing
  between the first and last that a subscriber got in the window. Re-encoding drops the SEI,
  so stock counts frames only.

Per mode, the server's CPU time (/proc, all threads) is taken over `--seconds` with the
publisher and no subscriber, half before the subscribers join and half after they leave (so a
drift in the machine's other load cancels), and over `--seconds` with the subscribers, once
each has had a keyframe and a warm-up has passed. Per stream = (with − without) / subscribers:
the difference against no subscribers spans the widest load, so the noise of a shared machine
weighs least (the slope between two subscriber counts halves the signal for the same noise),
and what having any subscriber costs is charged to the streams. R = stock ÷ forward per
stream; streams_per_core = 1 ÷ the forwarder's share of a core per stream, an extrapolation:
loss and latency are measured at `--subscribers`, which the subscriber side limits here.

Run with `make bench` or `.venv/bin/python bench/forwarding.py --subscribers 30`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench, core, streaming
from bench.harness import cpu_seconds, free_port, load_average, stop  # noqa: E402
from core.media import die_with_parent, ffmpeg_exe  # noqa: E402
from streaming.media import passthrough  # noqa: E402
from streaming.media.forwarder import Feed, Outlet, connect  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 30
CLOCK_RATE = 90_000  # H.264's RTP clock
CLIP_SECONDS = 10
WARM_UP = 3.0  # seconds between the last subscriber's keyframe and the measured window
SETTLE = 1.0  # seconds for the server to close the peer connections of leaving subscribers
JOIN_TIMEOUT = 30.0
# The stamp holds no zero byte (an ASCII UUID, a decimal payload), so it can never contain a
# start code and needs no emulation prevention.
STAMP_UUID = b"yuanjiao:sent-at"
SEI, USER_DATA_UNREGISTERED, RBSP_STOP_BIT = 6, 5, b"\x80"

TARGET_RATIO, TARGET_STREAMS, TARGET_LOSS_PCT, TARGET_P95_MS = 20, 100, 1.0, 150


# --- the clip and its stamps ------------------------------------------------------------------


def make_clip(path: Path) -> None:
    """The source, raw Annex-B H.264 (x264 repeats SPS and PPS at every keyframe)."""
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
         "-t", str(CLIP_SECONDS), "-pix_fmt", "yuv420p",
         "-c:v", "libx264", "-profile:v", "baseline", "-level", "3.1", "-preset", "veryfast",
         "-b:v", "1M", "-maxrate", "1M", "-bufsize", "1M",
         "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0",
         "-f", "h264", str(path)],
        check=True, timeout=120,
    )  # fmt: skip


def read_access_units(path: Path) -> list[bytes]:
    """The clip's frames, demuxed and never decoded."""
    with av.open(str(path), format="h264") as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def stamp(sequence: int, sent_at: float) -> bytes:
    """An SEI NAL carrying the frame's sequence number and the time it left the publisher."""
    payload = STAMP_UUID + f"{sequence}:{sent_at:.6f}".encode()
    header = b"\x00\x00\x00\x01" + bytes([SEI, USER_DATA_UNREGISTERED, len(payload)])
    return header + payload + RBSP_STOP_BIT


def read_stamp(access_unit: bytes) -> tuple[int, float] | None:
    """The sequence number and send time of a stamped access unit; None if it has no stamp."""
    start = access_unit.find(STAMP_UUID)
    if start < 0:
        return None
    end = start + access_unit[start - 1]  # the payload size precedes the UUID
    sequence, _, sent_at = access_unit[start + len(STAMP_UUID) : end].partition(b":")
    return int(sequence), float(sent_at)


# --- peers and signalling ---------------------------------------------------------------------


def peer() -> RTCPeerConnection:
    """A peer with no STUN server: loopback needs none, and this machine reaches no internet."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def prefer_h264(transceiver: RTCRtpTransceiver) -> None:
    """H.264 (with RTX) only: the codec the clip is in and the forwarder passes on."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences(
        [c for c in codecs if c.mimeType.lower() in ("video/h264", "video/rtx")]
    )


def description(pc: RTCPeerConnection) -> dict[str, Any]:
    """The local offer or answer, as signalled."""
    return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}


async def send_message(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    """One JSON line."""
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()


async def read_description(reader: asyncio.StreamReader) -> RTCSessionDescription:
    """The other side's offer or answer, from its JSON line."""
    line = await reader.readline()
    if not line:
        raise ConnectionError("the other side closed the signalling connection")
    message = json.loads(line)
    return RTCSessionDescription(sdp=message["sdp"], type=message["type"])


async def until_terminated() -> None:
    """Wait for SIGTERM: the benchmark ending this process, which then closes its peers."""
    terminated = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    await terminated.wait()


# --- the publisher process --------------------------------------------------------------------


class ClipCamera(MediaStreamTrack):
    """A camera whose encoder is the clip: stamped access units in a loop, paced at FPS."""

    kind = "video"

    def __init__(self, access_units: list[bytes]) -> None:
        super().__init__()
        self.access_units = access_units
        self.sequence = 0
        self.started: float | None = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self.started is None:
            self.started = time.monotonic()
        await asyncio.sleep(self.started + self.sequence / FPS - time.monotonic())
        access_unit = self.access_units[self.sequence % len(self.access_units)]
        packet = av.Packet(stamp(self.sequence, time.time()) + access_unit)
        packet.pts = self.sequence * CLOCK_RATE // FPS
        packet.time_base = Fraction(1, CLOCK_RATE)
        self.sequence += 1
        return packet


async def publish(port: int, clip: Path) -> None:
    """Offer the clip to the server and send it until terminated."""
    pc = peer()
    prefer_h264(pc.addTransceiver(ClipCamera(read_access_units(clip)), direction="sendonly"))
    await pc.setLocalDescription(await pc.createOffer())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await send_message(writer, {"op": "publish", **description(pc)})
    await pc.setRemoteDescription(await read_description(reader))
    writer.close()
    await until_terminated()
    await pc.close()


# --- the server process -----------------------------------------------------------------------


class Server:
    """One publisher's video to every subscriber, forwarded or decoded and re-encoded."""

    def __init__(self, mode: str) -> None:
        self.forward = mode == "forward"
        self.peers: set[RTCPeerConnection] = set()
        self.feed: Feed | None = None
        self.relay = MediaRelay()
        self.source: MediaStreamTrack | None = None
        self.decoded = 0
        self.published = asyncio.Event()

    @property
    def frames(self) -> int:
        """Frames received from the publisher so far."""
        return self.feed.frames if self.feed is not None else self.decoded

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One signalling connection: a status query, the publisher, or a subscriber."""
        try:
            request = json.loads(await reader.readline())
            if request["op"] == "status":
                await send_message(writer, {"frames": self.frames})
            elif request["op"] == "publish":
                offer = RTCSessionDescription(sdp=request["sdp"], type=request["type"])
                await self.accept_publisher(offer, writer)
            elif request["op"] == "subscribe":
                await self.serve_subscriber(reader, writer)
        finally:
            writer.close()

    async def accept_publisher(
        self, offer: RTCSessionDescription, writer: asyncio.StreamWriter
    ) -> None:
        pc = peer()
        self.peers.add(pc)
        arrived: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        pc.on("track", arrived.set_result)
        await pc.setRemoteDescription(offer)
        for transceiver in pc.getTransceivers():
            prefer_h264(transceiver)
        await pc.setLocalDescription(await pc.createAnswer())
        await send_message(writer, description(pc))
        track = await arrived
        if self.forward:
            receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
            self.feed = Feed(track, receiver)
        else:
            self.source = track
            asyncio.ensure_future(self.drain(self.relay.subscribe(track)))
        self.published.set()

    async def drain(self, track: MediaStreamTrack) -> None:
        """Read the decoded source even with no subscriber, as the Feed does when forwarding:
        the receiver decodes regardless, and its queue would grow without bound."""
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            self.decoded += 1

    def subscriber_track(self) -> MediaStreamTrack:
        """An outlet to be fed from the feed, or a proxy of the decoded source."""
        if self.feed is not None:
            return Outlet("video")
        assert self.source is not None
        return self.relay.subscribe(self.source)

    async def serve_subscriber(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Offer the video, take the answer, send until the subscriber hangs up."""
        await self.published.wait()
        pc = peer()
        self.peers.add(pc)
        track = self.subscriber_track()
        transceiver = pc.addTransceiver(track, direction="sendonly")
        prefer_h264(transceiver)
        if isinstance(track, Outlet):
            connect(transceiver.sender, track)
        try:
            await pc.setLocalDescription(await pc.createOffer())
            await send_message(writer, description(pc))
            await pc.setRemoteDescription(await read_description(reader))
            if isinstance(track, Outlet) and self.feed is not None:
                track.attach(self.feed)
            await reader.read()
        finally:
            track.stop()
            self.peers.discard(pc)
            await pc.close()


async def serve(mode: str, port: int) -> None:
    """Signal on `port` until terminated; say `ready` on stdout once listening."""
    if mode == "forward":
        passthrough.install()
    server = Server(mode)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port)
    print("ready", flush=True)
    await until_terminated()
    listener.close()
    await asyncio.gather(*(pc.close() for pc in tuple(server.peers)))


# --- the subscriber processes -----------------------------------------------------------------


@dataclass
class Subscriber:
    """One viewer's peer connection; while recording, what arrived and how late."""

    pc: RTCPeerConnection
    writer: asyncio.StreamWriter
    got_keyframe: bool = False
    recording: bool = False
    frames: int = 0
    sequences: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def receive(self, track: MediaStreamTrack) -> None:
        """Read the server's track from now on."""
        asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            arrived_at = time.time()
            assert isinstance(packet, av.Packet)
            self.got_keyframe = self.got_keyframe or packet.is_keyframe
            if not self.recording:
                continue
            self.frames += 1
            stamped = read_stamp(bytes(packet))
            if stamped is not None:
                self.sequences.append(stamped[0])
                self.latencies.append(arrived_at - stamped[1])

    def lost(self, window: float) -> tuple[int, int]:
        """Stamped frames missing from the recorded window, and how many it should have had."""
        if not self.sequences:
            return round(window * FPS), round(window * FPS)
        expected = max(self.sequences) - min(self.sequences) + 1
        return expected - len(set(self.sequences)), expected

    async def close(self) -> None:
        await self.pc.close()
        self.writer.close()


async def subscribe(port: int) -> Subscriber:
    """Join as a viewer: the server offers, this side answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await send_message(writer, {"op": "subscribe"})
    offer = await read_description(reader)
    subscriber = Subscriber(peer(), writer)
    subscriber.pc.on("track", subscriber.receive)
    await subscriber.pc.setRemoteDescription(offer)
    for transceiver in subscriber.pc.getTransceivers():
        prefer_h264(transceiver)
    await subscriber.pc.setLocalDescription(await subscriber.pc.createAnswer())
    await send_message(writer, description(subscriber.pc))
    return subscriber


async def next_command(expected: str) -> None:
    """Wait for the benchmark's next word on stdin, which must be `expected`."""
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() != expected:
        raise SystemExit(f"expected {expected!r} from the benchmark, got {line!r}")


async def watch(count: int, port: int) -> None:
    """`count` viewers: say `joined` once each has had a keyframe, record from `record` to
    `stop` (read on stdin), report the window as one JSON line, then leave."""
    passthrough.install()  # reassemble frames, decode none
    subscribers = list(await asyncio.gather(*(subscribe(port) for _ in range(count))))
    try:
        deadline = time.monotonic() + JOIN_TIMEOUT
        while not all(s.got_keyframe for s in subscribers):
            if time.monotonic() > deadline:
                joined = sum(s.got_keyframe for s in subscribers)
                raise SystemExit(f"{joined} of {count} viewers had a keyframe in {JOIN_TIMEOUT} s")
            await asyncio.sleep(0.1)
        print("joined", flush=True)
        await next_command("record")
        started = time.perf_counter()
        for subscriber in subscribers:
            subscriber.recording = True
        await next_command("stop")
        for subscriber in subscribers:
            subscriber.recording = False
        window = time.perf_counter() - started
        losses = [s.lost(window) for s in subscribers]
        report = {
            "window": window,
            "frames": sum(s.frames for s in subscribers),
            "lost": sum(lost for lost, _ in losses),
            "expected": sum(expected for _, expected in losses),
            "latencies_ms": [round(1000 * lat, 2) for s in subscribers for lat in s.latencies],
        }
        print(json.dumps(report), flush=True)
    finally:
        await asyncio.gather(*(s.close() for s in subscribers))


# --- one mode, measured -----------------------------------------------------------------------


@dataclass
class Run:
    """One mode's figures."""

    mode: str
    subscribers: int
    idle_cpu: float  # cores: the server with the publisher only
    busy_cpu: float  # cores: the server with the subscribers too
    client_cpu: float  # cores: the subscriber processes
    udp_drops: int
    fps: float  # per subscriber
    lost: int
    expected: int
    latencies_ms: list[float]

    @property
    def per_stream(self) -> float:
        """The server's share of a core per subscriber stream."""
        return (self.busy_cpu - self.idle_cpu) / self.subscribers

    @property
    def loss_pct(self) -> float:
        return 100 * self.lost / self.expected if self.expected else 0.0

    def latency_ms(self, percentile: int) -> float:
        if len(self.latencies_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100)[percentile - 1]


def spawn(*args: str, talk: bool = False) -> subprocess.Popen[bytes]:
    """This script again in another role, dying with this process whatever happens here;
    with `talk`, its stdin and stdout are pipes to this process."""
    pipe = subprocess.PIPE if talk else None
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdin=pipe, stdout=pipe, preexec_fn=die_with_parent
    )


def expect(process: subprocess.Popen[bytes], word: str) -> bytes:
    """The next line `process` prints, which must be `word` (any line, if word is empty)."""
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line or (word and line.strip() != word.encode()):
        raise SystemExit(
            f"process {process.pid} said {line[:200]!r}, not {word or 'a line'}"
            f" (exit code {process.poll()})"
        )
    return line


def tell(processes: list[subprocess.Popen[bytes]], word: str) -> None:
    """Send each subscriber process a command line."""
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(word.encode() + b"\n")
        process.stdin.flush()


def server_frames(port: int) -> int:
    """Frames the server has received from the publisher."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(json.dumps({"op": "status"}).encode() + b"\n")
        return int(json.loads(connection.makefile().readline())["frames"])


def udp_receive_drops() -> int:
    """Datagrams the kernel dropped, machine-wide, for want of room in a socket's receive
    buffer: on loopback, loss comes from a process that did not read in time."""
    snmp = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    header, values = (fields for fields in snmp if fields[0] == "Udp:")
    snmp6 = [line.split() for line in Path("/proc/net/snmp6").read_text().splitlines()]
    udp6 = sum(int(fields[1]) for fields in snmp6 if fields[0] == "Udp6RcvbufErrors")
    return int(values[header.index("RcvbufErrors")]) + udp6


@dataclass
class Sample:
    """CPU seconds of the server and of the subscriber processes so far, UDP drops, the time."""

    server: float
    clients: float
    udp_drops: int
    at: float

    @classmethod
    def take(cls, server: int, clients: list[subprocess.Popen[bytes]]) -> Sample:
        return cls(
            server=cpu_seconds(server),
            clients=sum(cpu_seconds(c.pid) for c in clients),
            udp_drops=udp_receive_drops(),
            at=time.perf_counter(),
        )


def server_cores(server: int, seconds: float) -> float:
    """Cores the server uses over the next `seconds`."""
    before = Sample.take(server, [])
    time.sleep(seconds)
    after = Sample.take(server, [])
    return (after.server - before.server) / (after.at - before.at)


def shares(count: int, processes: int) -> list[int]:
    """`count` viewers spread as evenly as may be over at most `processes` processes."""
    processes = max(1, min(processes, count))
    return [count // processes + (n < count % processes) for n in range(processes)]


def measure(mode: str, count: int, port: int, server: int, args: argparse.Namespace) -> Run:
    """The server's CPU without, with, and again without `count` subscribers; what they saw."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    while server_frames(port) < 2 * FPS:
        if time.monotonic() > deadline:
            raise SystemExit("the publisher's frames did not reach the server")
        time.sleep(0.2)
    idle_before = server_cores(server, args.seconds / 2)
    clients = [
        spawn("--subscribe", str(n), "--port", str(port), talk=True)
        for n in shares(count, args.client_processes)
    ]
    try:
        for client in clients:
            expect(client, "joined")
        time.sleep(WARM_UP)
        before = Sample.take(server, clients)
        tell(clients, "record")
        time.sleep(args.seconds)
        tell(clients, "stop")
        after = Sample.take(server, clients)
        reports = [json.loads(expect(client, "")) for client in clients]
        for client in clients:  # each closes its peer connections, then ends
            client.wait(timeout=JOIN_TIMEOUT)
    finally:
        for client in clients:
            stop(client)
    time.sleep(SETTLE)
    idle_after = server_cores(server, args.seconds / 2)
    stamped = mode == "forward"  # re-encoding drops the stamps
    return Run(
        mode=mode,
        subscribers=count,
        idle_cpu=(idle_before + idle_after) / 2,
        busy_cpu=(after.server - before.server) / (after.at - before.at),
        client_cpu=(after.clients - before.clients) / (after.at - before.at),
        udp_drops=after.udp_drops - before.udp_drops,
        fps=sum(r["frames"] / r["window"] for r in reports) / count,
        lost=sum(r["lost"] for r in reports) if stamped else 0,
        expected=sum(r["expected"] for r in reports) if stamped else 0,
        latencies_ms=[lat for r in reports for lat in r["latencies_ms"]],
    )


def run_mode(mode: str, count: int, clip: Path, args: argparse.Namespace) -> Run:
    """A fresh server and publisher for one mode, measured, then stopped."""
    port = free_port()
    server = spawn("--serve", mode, "--port", str(port), talk=True)
    publisher = None
    try:
        expect(server, "ready")
        publisher = spawn("--publish", str(clip), "--port", str(port))
        return measure(mode, count, port, server.pid, args)
    finally:
        stop(publisher)
        stop(server)


# --- report -----------------------------------------------------------------------------------


def table(runs: list[Run]) -> str:
    """The runs side by side, with a line saying what the columns are."""
    rows = [
        "CPU in % of one core: the server with the publisher only (idle), with the subscribers"
        " too, the difference per subscriber stream, the subscriber processes; fps per"
        " subscriber; UDP datagrams the kernel dropped (machine-wide) in the window",
        f"{'mode':<8} {'subs':>4} {'idle':>6} {'with subs':>9} {'per stream':>10} {'clients':>7}"
        f" {'fps':>5} {'udp drops':>9} {'loss':>6} {'p50 ms':>6} {'p95 ms':>6}",
    ]
    for run in runs:
        rows.append(
            f"{run.mode:<8} {run.subscribers:>4} {100 * run.idle_cpu:>5.1f}%"
            f" {100 * run.busy_cpu:>8.1f}% {100 * run.per_stream:>9.2f}%"
            f" {100 * run.client_cpu:>6.1f}% {run.fps:>5.1f} {run.udp_drops:>9}"
            + (
                f" {run.loss_pct:>5.2f}% {run.latency_ms(50):>6.1f} {run.latency_ms(95):>6.1f}"
                if run.mode == "forward"
                else f" {'-':>6} {'-':>6} {'-':>6}"
            )
        )
    return "\n".join(rows)


def report(forward: Run, stock: Run) -> None:
    """The table, a warning for a run whose subscribers fell short of the frame rate, whether
    the targets are met and, last, the figures."""
    print(table([forward, stock]))
    for run in (forward, stock):
        if run.fps < 0.95 * FPS:
            print(
                f"warning: {run.mode}'s subscribers got {run.fps:.1f} fps of {FPS}: the machine"
                " was saturated, so that run's CPU figures understate its cost"
            )
    if forward.per_stream <= 0:
        raise SystemExit("the forwarder's cost per stream was lost in the noise: more --seconds")
    ratio = stock.per_stream / forward.per_stream
    streams = int(1 / forward.per_stream)
    p95 = forward.latency_ms(95)
    met = (
        ratio >= TARGET_RATIO
        and streams >= TARGET_STREAMS
        and forward.loss_pct < TARGET_LOSS_PCT
        and p95 <= TARGET_P95_MS
    )
    print(f"target_met={'yes' if met else 'no'}")
    print(
        f"cost_ratio={ratio:.1f} streams_per_core={streams}"
        f" loss_pct={forward.loss_pct:.2f} p95_latency_ms={p95:.1f}"
    )


def main() -> None:
    """Measure both modes, or play one role when started with a hidden option."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=20, help="forwarded streams")
    parser.add_argument("--stock-subscribers", type=int, default=3, help="re-encoded streams")
    parser.add_argument("--seconds", type=float, default=20.0, help="each measured window")
    parser.add_argument(
        "--client-processes", type=int, default=2, help="processes the subscribers share"
    )
    parser.add_argument("--serve", choices=["forward", "stock"], help=argparse.SUPPRESS)
    parser.add_argument("--publish", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--subscribe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.port))
        return
    if args.publish:
        asyncio.run(publish(args.port, args.publish))
        return
    if args.subscribe:
        asyncio.run(watch(args.subscribe, args.port))
        return
    if min(args.subscribers, args.stock_subscribers, args.client_processes) < 1:
        parser.error("subscriber and process counts start at 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # run the finally blocks
    print(f"load average before: {load_average()} (2 cores, shared)")
    with tempfile.TemporaryDirectory(prefix="yuanjiao-bench-forwarding-") as directory:
        clip = Path(directory) / "clip.h264"
        make_clip(clip)
        forward = run_mode("forward", args.subscribers, clip, args)
        stock = run_mode("stock", args.stock_subscribers, clip, args)
    print(f"load average after: {load_average()}")
    report(forward, stock)


if __name__ == "__main__":
    main()
