"""The HSM as a TCP server: payShield host commands on port 1500 by default.

Each connection reads frames and answers each request as soon as it has been
read, so a client may pipeline many requests on one connection and match the
replies by header. Commands are CPU-light (a few TDES blocks), so they run inline
on the event loop. Logs carry command code, error code, failing field name and
latency only: never PINs, PIN blocks, keys or other request data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Collection
from types import TracebackType
from typing import Self

from hsm_mock.commands import CommandTable, default_command_table
from hsm_mock.context import HsmContext
from hsm_mock.lmk import VariantLmk
from hsm_mock.protocol import (
    DEFAULT_HEADER_LENGTH,
    MAX_FRAME,
    Dispatcher,
    FrameTooLarge,
    encode_frame,
    read_frame,
)

__all__ = ["DEFAULT_PORT", "HsmServer"]

DEFAULT_PORT = 1500  # payShield host port

_log = logging.getLogger(__name__)


class HsmServer:
    """A payShield-style HSM listening on TCP.

    ``lmk`` defaults to the published Thales test LMK. ``disabled_commands``
    answer error 68 (command disabled). ``port=0`` binds a free port; read
    :attr:`port` after :meth:`start`. Usable as ``async with HsmServer(...)``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        lmk: VariantLmk | None = None,
        header_len: int = DEFAULT_HEADER_LENGTH,
        disabled_commands: Collection[str] = frozenset(),
        max_frame: int = MAX_FRAME,
        commands: CommandTable | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._max_frame = max_frame
        self._dispatcher = Dispatcher(
            commands if commands is not None else default_command_table(),
            HsmContext(lmk if lmk is not None else VariantLmk.test()),
            header_len=header_len,
            disabled_commands=disabled_commands,
        )
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("HSM server already started")
        self._server = await asyncio.start_server(
            self._serve_connection, self._host, self._requested_port
        )
        _log.info("HSM listening on %s:%d", self._host, self.port)

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("HSM server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return len(self._connections)

    async def serve_forever(self) -> None:
        """Start if needed, then serve until cancelled; closes on the way out."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop listening and close every connection. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Replies are small and latency-bound: never wait for Nagle.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        _log.debug("connection from %s", peer)
        try:
            while (message := await read_frame(reader, self._max_frame)) is not None:
                started = time.perf_counter()
                reply = self._dispatcher.handle(message)
                writer.write(encode_frame(reply.message))
                _log.debug(
                    "cmd=%s err=%s%s latency_ms=%.3f",
                    reply.command,
                    reply.error,
                    f" field={reply.field}" if reply.field else "",
                    (time.perf_counter() - started) * 1000,
                )
                await writer.drain()
        except FrameTooLarge as exc:
            _log.warning("frame of %s bytes from %s refused; closing connection", exc, peer)
        except (asyncio.IncompleteReadError, ConnectionError):
            _log.debug("connection from %s ended mid-frame", peer)
        except asyncio.CancelledError:
            pass  # server closing
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
