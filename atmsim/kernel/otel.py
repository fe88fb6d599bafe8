"""Distributed tracing hooks (OpenTelemetry), off unless ``--otel URL`` switched them on.

The parts (the switch, the ledger, the HSM) ask ``tracer(part)`` for their tracer on the
way through a request: None, the default, means tracing is off, and the part goes its
usual way without creating a span or importing OpenTelemetry (a dict look-up is all it
costs). ``atmsim.shell.otel`` installs a tracer per part, each with its own
``service.name`` (``atmsim-switch``, ``atmsim-ledger``, ``atmsim-hsm``), and removes it
again on the way out.

One balance inquiry is one trace: the switch's spans run in the request's task, so the
HSM and MQTT calls made from it are its children; the MQTT request carries the W3C
``traceparent`` of its span to the ledger (``inject``), which continues the trace from it
(``extract``). A ``traceparent`` that is missing or malformed starts a new trace; it is
never an error (docs/tracing.md).

Span attributes are chosen one by one where the span is made, never copied from a
message: no PAN, PIN, PIN block, key, NIK or KPJ goes into a span.

>>> tracer("switch") is None  # off by default
True
>>> with span("ledger", "balance request") as nothing:
...     nothing is None
True
>>> extract({"traceparent": "not a traceparent"}) is None  # off: nothing to continue
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

__all__ = ["PARTS", "TRACEPARENT", "tracer", "install", "uninstall", "span", "record",
           "inject", "extract", "valid_traceparent"]

PARTS = ("switch", "ledger", "hsm")  # the parts that trace, by the names of the stack
TRACEPARENT = "traceparent"  # the W3C Trace Context header, as MQTT user property and key

_tracers: dict[str, Tracer] = {}
_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()


def tracer(part: str) -> Tracer | None:
    """The tracer of ``part`` ("switch", "ledger", "hsm"), or None while tracing is off."""
    return _tracers.get(part)


def install(part: str, part_tracer: Tracer) -> None:
    """Trace ``part`` with ``part_tracer`` from now on (``atmsim.shell.otel``)."""
    if part not in PARTS:
        raise ValueError(f"no part {part!r} to trace (one of {', '.join(PARTS)})")
    _tracers[part] = part_tracer


def uninstall(part: str) -> None:
    _tracers.pop(part, None)


def span(part: str, name: str, kind: str = "internal",
         attributes: Mapping[str, str | int] | None = None,
         context: Context | None = None) -> contextlib.AbstractContextManager[Span | None]:
    """A span of ``part`` around a ``with`` block, current inside it, or (tracing off) a
    context manager that does nothing and gives None. ``kind``: internal, server,
    client, producer or consumer. ``context``: the parent (from ``extract``) instead of
    the current span. An exception leaving the block marks the span as failed with its
    type only: exception texts are not span data."""
    part_tracer = _tracers.get(part)
    if part_tracer is None:
        return _OFF
    return _started(part_tracer, name, kind, attributes, context)


@contextlib.contextmanager
def _started(part_tracer: Tracer, name: str, kind: str,
             attributes: Mapping[str, str | int] | None,
             context: Context | None) -> Iterator[Span]:
    from opentelemetry.trace import SpanKind, Status, StatusCode

    with part_tracer.start_as_current_span(
            name, context=context, kind=SpanKind[kind.upper()],
            attributes=dict(attributes) if attributes else None,
            record_exception=False, set_status_on_exception=False) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def record(part_tracer: Tracer, name: str, kind: str, attributes: Mapping[str, str | int],
           seconds: float, *, failed: bool = False) -> None:
    """A span of ``seconds`` that has just ended, as the root of a trace of its own: for
    work that carries no trace context (a payShield host command)."""
    import time

    from opentelemetry.context import Context
    from opentelemetry.trace import SpanKind, Status, StatusCode

    ended = time.time_ns()
    done = part_tracer.start_span(name, context=Context(), kind=SpanKind[kind.upper()],
                                  attributes=dict(attributes),
                                  start_time=ended - int(seconds * 1e9))
    if failed:
        done.set_status(Status(StatusCode.ERROR))
    done.end(end_time=ended)


def inject() -> dict[str, str]:
    """The current span's W3C trace context (``{"traceparent": ...}``) to send with a
    request; empty when there is no span being recorded (tracing off)."""
    if not _tracers:
        return {}
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return {TRACEPARENT: carrier[TRACEPARENT]} if TRACEPARENT in carrier else {}


def valid_traceparent(value: object) -> str | None:
    """``value`` if it is a W3C traceparent of version 00 this side can continue, else None.

    >>> valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    >>> valid_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01") is None
    True
    >>> valid_traceparent(12), valid_traceparent("00-xyz")
    (None, None)
    """
    if not isinstance(value, str) or len(value) != 55:
        return None
    version, trace_id, span_id, flags = (value.split("-") + ["", "", "", ""])[:4]
    if value.count("-") != 3 or version != "00" or len(flags) != 2:
        return None
    try:
        if int(trace_id, 16) == 0 or int(span_id, 16) == 0:
            return None
        int(flags, 16)
    except ValueError:
        return None
    if len(trace_id) != 32 or len(span_id) != 16 or value != value.lower():
        return None
    return value


def extract(headers: Mapping[str, Any]) -> Context | None:
    """The parent context a request's ``traceparent`` names, or None (tracing off, no
    traceparent, or a malformed one: the caller then starts a new trace)."""
    if not _tracers:
        return None
    traceparent = valid_traceparent(headers.get(TRACEPARENT))
    if traceparent is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({TRACEPARENT: traceparent})
