"""The connections a scenario drives: the ATM link (ISO 8583), the HSM link (Thales host
commands) and the ledger bus (MQTT request/reply).

Both TCP links are pipelined: parallel steps share one connection, and a reply is matched
to its request (ISO 8583 by fields 41 + 11, falling back to 11 alone for a format-error
reply without 41; HSM by the 4-character header). Replies nobody waits for are kept, so
a report can show them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from typing import Any

import iso8583

from atmsim.kernel.bus import BusError, MqttBus, MqttEndpoint
from atmsim.kernel.wire import (
    FrameError,
    Framing,
    IsoMessage,
    WireError,
    WireProfile,
    read_frame,
)
from atmsim.kernel.wire.framing import PAYSHIELD_FRAMING

__all__ = ["AtmLink", "BusLink", "HsmLink", "LinkError", "encode_unchecked"]


class LinkError(Exception):
    """A link could not carry a step (no connection, no reply in time); one line."""


async def _open(host: str, port: int, what: str, timeout: float = 5.0,
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as exc:
        raise LinkError(f"cannot reach the {what} at {host}:{port}: "
                        f"{getattr(exc, 'strerror', None) or exc or 'timeout'}") from None
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


def encode_unchecked(profile: WireProfile, message: IsoMessage) -> bytes:
    """Encode without the field checks (lengths only), to send what a broken ATM would:
    a letter in an ``n`` field, a control character. For format-error scenarios."""
    body = {k: v for k, v in message.items() if k not in ("p", "1")}
    try:
        raw, _ = iso8583.encode(body, profile.spec)
    except iso8583.EncodeError as exc:
        raise LinkError(f"cannot be encoded even unchecked: {exc}") from None
    return bytes(raw)


class _PipelinedLink:
    """One TCP connection, opened on first use and shared by parallel steps; replies are
    handed to the future waiting under their key (``_route``)."""

    what = "peer"
    framing: Framing

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._lost: str | None = None
        self._connecting = asyncio.Lock()

    async def _ensure(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is None:
                reader, self._writer = await _open(self.host, self.port, self.what)
                self._task = asyncio.create_task(self._read(reader))
        if self._lost is not None:
            raise LinkError(self._lost)
        return self._writer

    def _route(self, frame: bytes) -> None:
        raise NotImplementedError

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                frame = await read_frame(reader, self.framing)
                if frame is None:
                    break
                self._route(frame)
        except (FrameError, asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            self._lost = f"connection to the {self.what} lost: {exc}"
        finally:
            self._lost = self._lost or f"the {self.what} closed the connection"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(LinkError(self._lost))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()


class AtmLink(_PipelinedLink):
    """One ISO 8583 connection to the switch under test."""

    what = "switch"

    def __init__(self, host: str, port: int, profile: WireProfile,
                 framing: Framing | None = None) -> None:
        super().__init__(host, port)
        self.profile = profile
        self.framing = framing or Framing(profile.framing)
        self.unmatched: list[IsoMessage] = []

    async def exchange(self, message: IsoMessage, *, unchecked: bool, timeout: float,
                       expect_reply: bool = True) -> tuple[bytes, IsoMessage | None]:
        """Send ``message``; its reply, or None when ``expect_reply`` is False and none came
        within ``timeout``. Raises ``LinkError`` for no reply when one was expected."""
        writer = await self._ensure()
        try:
            raw = (encode_unchecked(self.profile, message) if unchecked
                   else self.profile.encode(message))
        except WireError as exc:
            raise LinkError(f"the message cannot be encoded: {exc}") from None
        key = (message.get("41", ""), message.get("11", ""))
        if key in self._pending:
            raise LinkError(f"STAN {key[1]} of terminal {key[0]} is already waiting for a reply")
        future: asyncio.Future[IsoMessage] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            try:
                writer.write(self.framing.frame(raw))
            except FrameError as exc:
                raise LinkError(str(exc)) from None
            try:
                return raw, await asyncio.wait_for(future, timeout)
            except TimeoutError:
                if not expect_reply:
                    return raw, None
                raise LinkError(f"no reply to STAN {key[1]} within {timeout:g} s") from None
        finally:
            self._pending.pop(key, None)

    def _route(self, frame: bytes) -> None:
        try:
            reply = self.profile.decode(frame)
        except WireError as exc:
            reply = {**exc.partial, "_error": str(exc)}
        key = (reply.get("41", ""), reply.get("11", ""))
        future = self._pending.get(key)
        if future is None and "41" not in reply:
            # A format-error reply may lack 41: the STAN alone.
            future = next((f for (_, stan), f in self._pending.items() if stan == key[1]),
                          None)
        if future is not None and not future.done():
            future.set_result(reply)
        else:
            self.unmatched.append(reply)


class HsmLink(_PipelinedLink):
    """One connection to the HSM under test; each command gets a fresh 4-digit header."""

    what = "HSM"
    framing = PAYSHIELD_FRAMING

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self._headers = itertools.count(1)

    async def command(self, code: str, data: str, timeout: float,
                      header: str | None = None) -> tuple[str, str, str]:
        """Send one command; the reply's response code, error code and the rest."""
        writer = await self._ensure()
        head = (header or f"{next(self._headers) % 10_000:04d}").encode("latin-1")
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[head] = future
        try:
            writer.write(self.framing.frame(head + (code + data).encode("latin-1")))
            try:
                body = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise LinkError(f"no reply to {code} within {timeout:g} s") from None
        finally:
            self._pending.pop(head, None)
        rest = body[len(head):].decode("latin-1")
        return rest[:2], rest[2:4], rest[4:]

    def _route(self, frame: bytes) -> None:
        future = self._pending.get(frame[:4])
        if future is not None and not future.done():
            future.set_result(frame)


class BusLink:
    """Requests on the ledger's MQTT contract (docs/ledger.md), through the kernel's bus."""

    def __init__(self, endpoint: MqttEndpoint) -> None:
        self.endpoint = endpoint
        self._bus: MqttBus | None = None
        self._connecting = asyncio.Lock()

    async def request(self, topic: str, payload: dict[str, Any], timeout: float,
                      ) -> dict[str, Any]:
        async with self._connecting:
            if self._bus is None:
                bus = MqttBus(self.endpoint, "scenario")
                await bus.__aenter__()
                self._bus = bus
                try:
                    await bus.established(5.0)
                except BusError as exc:
                    raise LinkError(str(exc)) from None
        try:
            return await self._bus.request(topic, payload, timeout)
        except BusError as exc:
            raise LinkError(f"{topic}: {exc or 'no reply'}") from None

    async def close(self) -> None:
        if self._bus is not None:
            await self._bus.close()
