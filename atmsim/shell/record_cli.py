"""``atmsim record``: a transparent TCP proxy that writes every ISO 8583 frame both ways.

Put it between an ATM (or any client) and a switch: ``atmsim record --listen 9583
--target 10.0.0.5:8583 --out day1.jsonl`` and point the ATM at port 9583. Each accepted
connection gets its own connection to the target and a connection id; bytes are forwarded
as they arrive, never altered, re-framed or delayed for the capture (the frames are cut
from a copy, with the profile's framing). A stream whose framing breaks is still
forwarded, only no longer recorded. The capture format is in ``atmsim.shell.capture``;
masked unless ``--raw``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from atmsim.kernel.wire import Framing, WireProfile, default_profile
from atmsim.shell.capture import (
    REPLY,
    REQUEST,
    CaptureError,
    FrameCutter,
    encode_record,
    frame_record,
    open_capture_output,
)
from atmsim.shell.config import parse_hostport
from atmsim.shell.errors import UserError
from atmsim.shell.lifecycle import StopSignals
from atmsim.shell.options import add_options, settings_from

__all__ = ["RAW_WARNING", "RecordingProxy", "add_parser", "run"]

log = logging.getLogger("atmsim.record")

RAW_WARNING = ("atmsim record: --raw keeps clear PANs, track 2 and PIN blocks in the "
               "capture: test cards only; keep it off shared storage and delete it after use")
_CHUNK = 65536


class RecordingProxy:
    """The proxy: ``async with RecordingProxy(...) as proxy:`` listens on ``proxy.port``
    until the block ends, then closes every connection it holds."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], out: IO[str], *,
                 profile: WireProfile | None = None, framing: Framing | None = None,
                 raw: bool = False, connect_timeout: float = 10.0) -> None:
        self.listen = listen
        self.target = target
        self.out = out
        self.profile = profile or default_profile()
        self.framing = framing or Framing()
        self.raw = raw
        self.connect_timeout = connect_timeout
        self.frames = 0
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> RecordingProxy:
        try:
            self._server = await asyncio.start_server(self._accepted, *self.listen)
        except OSError as exc:
            raise UserError(f"--listen {self.listen[0]}:{self.listen[1]}: cannot listen: "
                            f"{exc.strerror or exc}") from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # Closing the sockets ends each connection's pumps, which record its close.
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        await self._server.wait_closed()
        self.out.flush()

    def _write(self, record: dict[str, Any]) -> None:
        self.out.write(encode_record(record))

    async def _accepted(self, client_reader: asyncio.StreamReader,
                        client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = next(self._ids)
        peer = client_writer.get_extra_info("peername") or ("?", 0)
        try:
            try:
                target_reader, target_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.target), self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                log.warning("connection %d: cannot reach the target %s:%d: %s", conn,
                            *self.target, exc or "timeout")
                self._write({"event": "refused", "conn": conn, "time": time.time(),
                             "client": f"{peer[0]}:{peer[1]}", "reason": str(exc)})
                client_writer.close()
                return
            for writer in (client_writer, target_writer):
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._write({"event": "open", "conn": conn, "time": time.time(),
                         "client": f"{peer[0]}:{peer[1]}"})
            self._writers.update((client_writer, target_writer))
            try:
                await asyncio.gather(
                    self._pump(client_reader, target_writer, conn, REQUEST),
                    self._pump(target_reader, client_writer, conn, REPLY))
            finally:  # also when the proxy stops with the connection open
                self._write({"event": "close", "conn": conn, "time": time.time()})
                self.out.flush()
                target_writer.close()
                self._writers.difference_update((client_writer, target_writer))
        finally:
            self._tasks.discard(task)
            client_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    conn: int, direction: str) -> None:
        """Forward one direction until its end of stream, recording its frames."""
        cutter = FrameCutter(self.framing)
        said_broken = False
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)  # first: the capture never holds the traffic back
                now = time.time()
                for message in cutter.feed(data):
                    self.frames += 1
                    self._write(frame_record(self.profile, time=now, conn=conn,
                                             direction=direction, message=message,
                                             raw=self.raw))
                if cutter.broken is not None and not said_broken:
                    said_broken = True
                    self._write({"event": "unframed", "conn": conn, "time": now,
                                 "dir": direction, "reason": cutter.broken})
                    log.warning("connection %d %s: %s; forwarding, no longer recording",
                                conn, direction, cutter.broken)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # a half-close goes through as one
        except (ConnectionError, OSError):
            writer.close()  # a reset on one side ends the other too


def add_parser(subparsers: Any) -> None:
    """Add ``record`` to the ``atmsim`` subcommands."""
    parser = subparsers.add_parser(
        "record", help="transparent proxy that writes every ISO 8583 frame (JSONL)",
        description="Listen, forward every connection to the target unchanged, and write "
                    "each frame both ways with time and connection id, masked unless --raw.")
    parser.add_argument("--listen", required=True, metavar="[HOST:]PORT",
                        help="where the ATM connects (host default 127.0.0.1)")
    parser.add_argument("--target", required=True, metavar="HOST:PORT",
                        help="the switch (or any ISO 8583 server) to forward to")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="the capture, JSON lines (appended to)")
    parser.add_argument("--raw", action="store_true",
                        help="keep the message bytes and clear fields (test cards only)")
    add_options(parser, "profile", "config", "log_level")


def listen_address(text: str) -> tuple[str, int]:
    """``PORT`` or ``HOST:PORT``.

    >>> listen_address("9583"), listen_address("0.0.0.0:9583")
    (('127.0.0.1', 9583), ('0.0.0.0', 9583))
    """
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    return parse_hostport(text, "--listen")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    listen = listen_address(args.listen)
    target = parse_hostport(args.target, "--target")
    profile, framing = settings.switch.wire()
    if args.raw:
        print(RAW_WARNING, file=sys.stderr)
    try:
        out = open_capture_output(args.out)
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    with out:
        return asyncio.run(_record(listen, target, out, profile, framing, args.raw, args.out))


async def _record(listen: tuple[str, int], target: tuple[str, int], out: IO[str],
                  profile: WireProfile, framing: Framing, raw: bool, path: Path) -> int:
    signals = StopSignals()
    signals.install()
    async with RecordingProxy(listen, target, out, profile=profile, framing=framing,
                              raw=raw) as proxy:
        print(f"recording {listen[0]}:{proxy.port} -> {target[0]}:{target[1]} into {path}"
              f" ({'raw' if raw else 'masked'}); Ctrl-C stops", flush=True)
        await signals.stop.wait()
    print(f"recorded {proxy.frames:,} frames", flush=True)
    return 0
