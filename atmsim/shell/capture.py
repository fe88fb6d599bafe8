"""Captures of ISO 8583 traffic: the JSONL that ``atmsim record`` writes, and pcap/pcapng
files from tshark or tcpdump, both read into the same :class:`Frame` list.

JSONL (docs/replay.md): one JSON object a line. ``{"event": "open", "conn": 1, "time":
..., "client": "127.0.0.1:40512"}`` when a connection starts, ``{"event": "close", ...}``
when it ends, and one object per frame: ``time`` (Unix seconds), ``conn``, ``dir``
(``c2s``: from the side that connected, the ATM; ``s2c``: from the target), ``len`` (bytes
of the message), ``fields`` (decoded, masked unless raw), ``hex`` (the message bytes,
``--raw`` only) and ``error`` (why it does not decode, then ``fields`` is what could be
read). Masked: PAN first 6 and last 4, track 2 its masked PAN only, PIN blocks, MACs and
chip data replaced by ``*`` of the same length.

A pcap is read with dpkt (pcap and pcapng; Ethernet, Linux cooked, loopback and raw IP
links) and each TCP direction is reassembled by sequence number before frames are cut by
the profile's framing, so a frame split over segments or several frames in one segment
come out whole.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from atmsim.kernel.masking import mask_pan, mask_track2
from atmsim.kernel.wire import FrameError, Framing, IsoMessage, WireError, WireProfile

__all__ = ["CaptureError", "Frame", "FrameCutter", "encode_record", "mask_message",
           "read_capture", "frame_record"]

# Fields that never leave a masked capture: PIN data, MACs, chip data.
HIDDEN_FIELDS = ("52", "53", "55", "64", "128")
REQUEST, REPLY = "c2s", "s2c"


class CaptureError(ValueError):
    """A capture file that cannot be read; one line."""


@dataclass
class Frame:
    """One ISO 8583 message of a capture."""

    time: float
    conn: int
    direction: str  # c2s or s2c
    fields: IsoMessage
    raw: bytes | None = None  # the message bytes, when the capture kept them
    error: str | None = None
    size: int = 0

    @property
    def masked(self) -> bool:
        return self.raw is None


def mask_message(message: IsoMessage) -> IsoMessage:
    """A message as a masked capture keeps it.

    >>> mask_message({"t": "0200", "2": "5264220000100010", "52": "0123456789ABCDEF"})
    {'t': '0200', '2': '526422******0010', '52': '****************'}
    """
    masked = dict(message)
    if "2" in masked:
        masked["2"] = mask_pan(masked["2"])
    if "35" in masked:
        masked["35"] = mask_track2(masked["35"])
    for key in HIDDEN_FIELDS:
        if key in masked:
            masked[key] = "*" * len(masked[key])
    return masked


def frame_record(profile: WireProfile, *, time: float, conn: int, direction: str,
                 message: bytes, raw: bool) -> dict[str, Any]:
    """The JSONL record of one message (without its framing)."""
    record: dict[str, Any] = {"time": round(time, 6), "conn": conn, "dir": direction,
                              "len": len(message)}
    try:
        fields = profile.decode(message)
    except WireError as exc:
        fields = exc.partial
        record["error"] = str(exc)
    record["fields"] = fields if raw else mask_message(fields)
    if raw:
        record["hex"] = message.hex().upper()
    return record


def encode_record(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":")) + "\n"


class FrameCutter:
    """Cuts the frames out of one direction of a TCP stream, as bytes arrive. After a
    broken length header it stops (``broken`` says why): a stream cannot be resynchronised."""

    def __init__(self, framing: Framing) -> None:
        self.framing = framing
        self._buffer = bytearray()
        self.broken: str | None = None

    def feed(self, data: bytes) -> list[bytes]:
        if self.broken is not None:
            return []
        self._buffer += data
        frames, at = [], 0
        try:
            while (cut := self.framing.cut(self._buffer, at)) is not None:
                message, at = cut
                frames.append(message)
        except FrameError as exc:
            self.broken = str(exc)
            self._buffer.clear()
            return frames
        del self._buffer[:at]
        return frames


# -- reading ---------------------------------------------------------------------------

_PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                b"\xa1\xb2\x3c\x4d")
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def read_capture(path: Path, profile: WireProfile, framing: Framing,
                 port: int | None = None) -> list[Frame]:
    """Every frame of a capture (JSONL, pcap or pcapng), in time order. For a pcap,
    ``port`` picks the server's TCP port when the capture holds other traffic too."""
    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except OSError as exc:
        raise CaptureError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if magic in _PCAP_MAGICS or magic == _PCAPNG_MAGIC:
        return _read_pcap(path, profile, framing, port)
    return _read_jsonl(path)


def _read_jsonl(path: Path) -> list[Frame]:
    frames = []
    with path.open(encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise CaptureError(f"{path}:{number}: not a JSON line of a capture") from None
            if not isinstance(record, dict):
                raise CaptureError(f"{path}:{number}: not a capture record")
            if "event" in record:
                continue
            frames.append(_frame_of(record, path, number))
    frames.sort(key=lambda f: f.time)
    return frames


def _frame_of(record: dict[str, Any], path: Path, number: int) -> Frame:
    try:
        fields = record["fields"]
        if not isinstance(fields, dict) or record["dir"] not in (REQUEST, REPLY):
            raise ValueError
        raw = bytes.fromhex(record["hex"]) if "hex" in record else None
        return Frame(float(record["time"]), int(record["conn"]), record["dir"],
                     {str(k): str(v) for k, v in fields.items()}, raw, record.get("error"),
                     int(record.get("len", 0)))
    except (KeyError, ValueError, TypeError):
        raise CaptureError(f"{path}:{number}: a frame record needs time, conn, dir "
                           "(c2s or s2c) and fields") from None


@dataclass
class _Direction:
    """One direction of one TCP connection, reassembled by sequence number."""

    conn: int
    direction: str
    cutter: FrameCutter
    next_seq: int | None = None
    base: int | None = None  # the stream's first sequence number
    waiting: dict[int, tuple[float, bytes]] = field(default_factory=dict)  # out of order

    def segment(self, time: float, seq: int, data: bytes) -> Iterator[tuple[float, bytes]]:
        if self.next_seq is None:  # no SYN captured: the stream starts here
            self.next_seq = seq
        if self.base is None:
            self.base = self.next_seq
        # Offsets from the first sequence number: a stream that wraps 2**32 stays in order.
        self.waiting.setdefault((seq - self.base) & 0xFFFFFFFF, (time, data))
        done = (self.next_seq - self.base) & 0xFFFFFFFF
        while True:
            found = next(((s, v) for s, v in self.waiting.items()
                          if s <= done < s + len(v[1])), None)
            if found is None:
                # drop what lies wholly behind (retransmissions)
                for stale in [s for s, v in self.waiting.items() if s + len(v[1]) <= done]:
                    del self.waiting[stale]
                self.next_seq = (self.base + done) & 0xFFFFFFFF
                return
            start, (at, payload) = found
            del self.waiting[start]
            fresh = payload[done - start:]
            done += len(fresh)
            for message in self.cutter.feed(fresh):
                yield at, message


def _read_pcap(path: Path, profile: WireProfile, framing: Framing,
               port: int | None) -> list[Frame]:
    import dpkt  # only a pcap needs it

    directions: dict[tuple[bytes, int, bytes, int], _Direction] = {}
    connections: dict[frozenset[tuple[bytes, int]], int] = {}
    servers: dict[int, tuple[bytes, int]] = {}  # conn -> the server's end
    frames: list[Frame] = []
    with path.open("rb") as file:
        try:
            magic = file.read(4)
            file.seek(0)
            reader: Any = (dpkt.pcapng.Reader(file) if magic == _PCAPNG_MAGIC
                           else dpkt.pcap.Reader(file))
            link = reader.datalink()
            for time, packet in reader:
                tcp_and_ends = _tcp(dpkt, link, packet)
                if tcp_and_ends is None:
                    continue
                tcp, src, dst = tcp_and_ends
                if port is not None and port not in (tcp.sport, tcp.dport):
                    continue
                ends = frozenset(((src, tcp.sport), (dst, tcp.dport)))
                conn = connections.get(ends)
                if conn is None:
                    conn = connections[ends] = len(connections) + 1
                if conn not in servers:
                    servers[conn] = _server_end(tcp, src, dst, port)
                key = (src, tcp.sport, dst, tcp.dport)
                flow = directions.get(key)
                if flow is None:
                    direction = REPLY if (src, tcp.sport) == servers[conn] else REQUEST
                    flow = directions[key] = _Direction(conn, direction, FrameCutter(framing))
                if tcp.flags & dpkt.tcp.TH_SYN:
                    flow.next_seq = (tcp.seq + 1) & 0xFFFFFFFF  # the SYN takes one number
                if not tcp.data:
                    continue
                for at, message in flow.segment(float(time), tcp.seq, bytes(tcp.data)):
                    record = frame_record(profile, time=at, conn=conn,
                                          direction=flow.direction, message=message, raw=True)
                    frames.append(Frame(at, conn, flow.direction, record["fields"], message,
                                        record.get("error"), len(message)))
        except (ValueError, dpkt.UnpackError, EOFError) as exc:
            raise CaptureError(f"{path}: not a capture dpkt can read: {exc}") from None
    frames.sort(key=lambda f: f.time)
    return frames


def _server_end(tcp: Any, src: bytes, dst: bytes, port: int | None) -> tuple[bytes, int]:
    """The server's end of a connection from its first packet: the port asked for, else
    the side a SYN goes to, else (a capture started mid-connection) the lower port."""
    import dpkt

    if port is not None:
        return (src, tcp.sport) if tcp.sport == port else (dst, tcp.dport)
    if tcp.flags & dpkt.tcp.TH_SYN:
        return (src, tcp.sport) if tcp.flags & dpkt.tcp.TH_ACK else (dst, tcp.dport)
    return (src, tcp.sport) if tcp.sport < tcp.dport else (dst, tcp.dport)


def _tcp(dpkt: Any, link: int, packet: bytes) -> tuple[Any, bytes, bytes] | None:
    """The TCP segment of a captured packet and its IP source and destination."""
    with contextlib.suppress(dpkt.UnpackError, ValueError, IndexError):
        if link == dpkt.pcap.DLT_EN10MB:
            ip = dpkt.ethernet.Ethernet(packet).data
        elif link == dpkt.pcap.DLT_LINUX_SLL:
            ip = dpkt.sll.SLL(packet).data
        elif link == 276:  # DLT_LINUX_SLL2, tcpdump -i any
            ip = dpkt.sll2.SLL2(packet).data
        elif link in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
            ip = dpkt.loopback.Loopback(packet).data
        elif link in (dpkt.pcap.DLT_RAW, 101):
            ip = dpkt.ip.IP(packet) if packet[:1] and packet[0] >> 4 == 4 \
                else dpkt.ip6.IP6(packet)
        else:
            return None
        if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, dpkt.tcp.TCP):
            return ip.data, bytes(ip.src), bytes(ip.dst)
    return None


def open_capture_output(path: Path) -> IO[str]:
    """The JSONL file ``atmsim record`` appends to (created with owner-only rights: even
    masked, a capture says which cards were used where)."""
    import os

    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise CaptureError(f"{path}: cannot be written: {exc.strerror or exc}") from None
    return os.fdopen(descriptor, "w", encoding="utf-8", buffering=1 << 16)
