"""Switching tracing on: one OpenTelemetry tracer provider per part, exporting by OTLP.

``--otel URL`` (``[otel] url``, ``ATMSIM_OTEL_URL``) on ``atmsim up``, ``demo``,
``switch``, ``ledger`` and ``hsm`` makes the stack call ``start_tracing`` for the parts it
runs: each gets its own provider, with ``service.name`` ``atmsim-switch``,
``atmsim-ledger`` or ``atmsim-hsm``, whose spans go in batches to the collector's
OTLP/HTTP endpoint (``URL/v1/traces``). ``Tracing.close`` sends what is still queued
(bounded: a collector that is not there costs the stop at most ``EXPORT_TIMEOUT``
seconds) and switches tracing off again. Without a URL nothing of OpenTelemetry is even
imported. docs/tracing.md tells what the spans are.

>>> otlp_endpoint("http://127.0.0.1:4318")
'http://127.0.0.1:4318/v1/traces'
>>> otlp_endpoint("https://collector.example/otlp/v1/traces")
'https://collector.example/otlp/v1/traces'
>>> check_otel_url("collector:4318")
"'collector:4318' is not an http:// or https:// URL (e.g. http://127.0.0.1:4318)"
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from atmsim.kernel import otel

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["EXPORT_TIMEOUT", "Tracing", "start_tracing", "otlp_endpoint", "check_otel_url"]

log = logging.getLogger("atmsim.tracing")

EXPORT_TIMEOUT = 1.0  # seconds one export to the collector may take
_TRACES_PATH = "/v1/traces"


def check_otel_url(url: str) -> str | None:
    """Why ``url`` cannot be the collector's OTLP/HTTP address, or None when it can."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"{url!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:4318)"
    try:
        parsed.port  # noqa: B018 (a bad port raises)
    except ValueError:
        return f"bad port in {url!r}"
    return None


def otlp_endpoint(url: str) -> str:
    """The traces endpoint of the collector at ``url``: ``/v1/traces`` added unless the
    URL ends with it."""
    base = url.rstrip("/")
    return base if base.endswith(_TRACES_PATH) else base + _TRACES_PATH


class Tracing:
    """The tracer providers of the traced parts; ``close`` flushes and switches off."""

    def __init__(self, providers: dict[str, TracerProvider]) -> None:
        self.providers = providers

    def close(self) -> None:
        providers, self.providers = self.providers, {}
        for part, provider in providers.items():
            otel.uninstall(part)
            try:
                provider.shutdown()  # sends the spans still queued, within the timeouts
            except Exception as exc:  # a collector's trouble must not stop the stop
                log.warning("traces of the %s not all sent: %s", part, exc)


def start_tracing(parts: Collection[str], url: str | None = None, *,
                  exporter: SpanExporter | None = None) -> Tracing:
    """Trace those of ``parts`` that trace (switch, ledger, hsm): to the collector at
    ``url`` (in batches), or to ``exporter`` (each span as it ends: tests)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    try:
        __version__ = version("atmsim")
    except PackageNotFoundError:  # run from a source tree that was never installed
        __version__ = "0"
    providers: dict[str, TracerProvider] = {}
    for part in otel.PARTS:
        if part not in parts:
            continue
        provider = TracerProvider(resource=Resource.create({
            "service.name": f"atmsim-{part}", "service.namespace": "atmsim",
            "service.version": __version__}))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            assert url is not None
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(
                OTLPSpanExporter(endpoint=otlp_endpoint(url), timeout=EXPORT_TIMEOUT),
                export_timeout_millis=int(EXPORT_TIMEOUT * 1000)))
        otel.install(part, provider.get_tracer(f"atmsim.{part}", __version__))
        providers[part] = provider
    if providers and url is not None:
        log.info("tracing %s to %s", ", ".join(providers), otlp_endpoint(url))
    return Tracing(providers)
