"""A Prometheus scrape endpoint on the event loop: ``GET /metrics`` of one registry.

Each part (switch, HSM, ledger) keeps its metrics in a ``CollectorRegistry`` of its own,
never prometheus_client's global one, so that several parts in one process (``atmsim up``)
do not clash, and each serves it on a listener of its own (``[switch] metrics =
"127.0.0.1:9101"``; docs/observability.md). prometheus_client's ``start_http_server``
would serve from a thread; this listener is a few lines of asyncio instead, so a scrape is
answered on the part's own loop, between two requests, without a thread touching the
metrics. Rendering a registry takes well under a millisecond for the few dozen series a
part has.

Only ``GET`` (and ``HEAD``) of ``/metrics`` is answered 200; anything else gets a 404 or
405, a request head over 8 KiB or not complete within 5 s closes the connection. A
request head is never logged: it is the scraper's, not ours to keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = ["MetricsListener", "METRICS_PATH"]

log = logging.getLogger("atmsim.metrics")

METRICS_PATH = "/metrics"
_MAX_HEAD = 8192
_HEAD_TIMEOUT = 5.0


class MetricsListener:
    """Serves ``registry`` at ``http://host:port/metrics`` until closed; ``part`` names
    it in the log ("switch metrics on 127.0.0.1:9101"). ``port=0`` binds a free port."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int,
                 part: str = "metrics") -> None:
        self.registry = registry
        self.host = host
        self._port = port
        self.part = part
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._port,
                                                  limit=_MAX_HEAD)
        log.info("%s metrics on %s", self.part, self.url)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def __aenter__(self) -> MetricsListener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            async with asyncio.timeout(_HEAD_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            writer.write(self.respond(head))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, OSError):
            pass  # a scraper that went away or sent no request: nothing to answer
        except asyncio.CancelledError:
            pass  # the listener is closing
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def respond(self, head: bytes) -> bytes:
        """The whole HTTP/1.1 response to one request head (``Connection: close``).

        >>> from prometheus_client import Counter
        >>> registry = CollectorRegistry()
        >>> Counter("atmsim_demo", "a demo counter", registry=registry).inc(2)
        >>> answer = MetricsListener(registry, "127.0.0.1", 0).respond(
        ...     b"GET /metrics HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        >>> answer.split(b"\\r\\n")[0], b"atmsim_demo_total 2.0" in answer
        (b'HTTP/1.1 200 OK', True)
        >>> MetricsListener(registry, "127.0.0.1", 0).respond(b"GET / HTTP/1.1\\r\\n\\r\\n")[:22]
        b'HTTP/1.1 404 Not Found'
        """
        lines = head[:_MAX_HEAD].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        method, target = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if target.split("?", 1)[0] != METRICS_PATH:
            return _response("404 Not Found", b"only /metrics is served here\n")
        if method not in ("GET", "HEAD"):
            return _response("405 Method Not Allowed", b"GET /metrics\n", allow="GET, HEAD")
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        body = encoder(self.registry)
        return _response("200 OK", body, content_type, head_only=method == "HEAD")


def _response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8", *,
              head_only: bool = False, allow: str = "") -> bytes:
    extra = f"Allow: {allow}\r\n" if allow else ""
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
            ).encode("latin-1") + (b"" if head_only else body)
