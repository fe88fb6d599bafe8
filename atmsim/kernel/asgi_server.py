"""An ASGI app served by uvicorn inside the running event loop, on a socket bound before
it starts (so a taken port fails at once, and port 0 picks a free one): the WhatsApp
bot's webhook and the simulated Graph API both run on it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["AsgiServer"]


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds it (the CLI, a test)
    owns SIGINT and SIGTERM and stops the server itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AsgiServer:
    """uvicorn serving an ASGI app on ``host:port`` inside the running event loop;
    ``async with`` starts it (the port is bound when it returns) and stops it."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.host, self.port = host, port
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                access_log=False, lifespan="off", loop="none",
                                limit_concurrency=1000, timeout_keep_alive=30)
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> AsgiServer:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without, a response written in two parts waits
        # out the client's delayed ACK (40 ms on Linux loopback).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"{self.host}:{self.port}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"cannot serve on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5)
