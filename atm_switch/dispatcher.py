"""From a message the channel read to its answer: routes each request to its pipeline by
MTI, answers what no pipeline takes, and records every answer (log line and event).

0200 goes to the balance inquiry (``atm_switch.balance_inquiry``), 0420 and its repeat
0421 to the reversal (``atm_switch.reversal``), 0800 to network management
(``atm_switch.network_management``). Another request or advice MTI is answered
12; anything that is not a request (a response, a notification) is dropped and logged. A
message that did not decode is answered 30 when enough of it could be read to address an
answer (a request MTI and field 11), otherwise dropped and logged.

With rules (``atmsim switch --rules FILE``), the first rule matching a decoded request
answers it instead (``atm_switch.host_rules``); a request no rule matches is answered as
above.

Each routed request has a ``RequestTrace`` (``atm_switch.metrics``): the event, field 63
of an 0210 whose 0200 asked for it (``atmsim.kernel.wire.hop_timings``) and the
Prometheus metrics all take their timings from it.

With tracing on (``--otel URL``, docs/tracing.md), each decoded request is a SERVER span
("iso8583 0200"): its MTI, processing code, terminal, STAN and the response code, never
the PAN; the pipeline's steps, the HSM commands and the ledger request are its children.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from atm_switch.balance_inquiry import answer_balance_inquiry
from atm_switch.channel import Answer
from atm_switch.deps import SwitchDeps
from atm_switch.events import EVENTS_QOS, EVENTS_TOPIC, transaction_event
from atm_switch.host_rules import by_rule, switch_facts
from atm_switch.message_security import seal_answer
from atm_switch.message_types import response_mti
from atm_switch.metrics import RequestTrace, SwitchMetrics, current_trace, tracing
from atm_switch.network_management import answer_network_management
from atm_switch.responses import answer
from atm_switch.reversal import answer_reversal
from atmsim.kernel import otel
from atmsim.kernel.log_limits import RateLimitedLog
from atmsim.kernel.masking import mask_pan
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.rules import RuleBook
from atmsim.kernel.wire import IsoMessage, WireError
from atmsim.kernel.wire.hop_timings import (
    HOP_TIMINGS_FIELD,
    HopTimings,
    asks_hop_timings,
    encode_hop_timings,
)

__all__ = ["AnswerLog", "Dispatcher", "Route"]

log = logging.getLogger("atmsim.switch")

# A route answers one decoded request: the response and a reason for the log and the event.
Route = Callable[[IsoMessage, SwitchDeps], Awaitable[tuple[IsoMessage, str]]]


class Dispatcher:
    """The switch's ``RequestListener``: ``routes`` maps an MTI to its pipeline;
    ``rules`` (None: none) may answer a request first; ``answer_log`` says at which level
    each answer is logged (default: ``AnswerLog``'s ten a second at INFO)."""

    def __init__(self, deps: SwitchDeps, warn: RateLimitedLog,
                 rules: RuleBook | None = None, answer_log: AnswerLog | None = None) -> None:
        self.deps = deps
        self.metrics: SwitchMetrics = deps.metrics
        self._warn = warn
        self.rules = rules
        self._answer_log = answer_log or AnswerLog(log)
        self.routes: dict[str, Route] = {
            "0200": answer_balance_inquiry,
            "0420": answer_reversal,
            "0421": answer_reversal,
            "0800": answer_network_management,
        }

    async def dispatch(self, request: IsoMessage) -> Answer | None:
        if otel.tracer("switch") is not None:
            return await self._traced(request)
        return await self._answer(request)

    async def _traced(self, request: IsoMessage) -> Answer | None:
        mti = request["t"]
        attributes = {"iso8583.mti": mti}
        for field, name in _SPAN_FIELDS:
            if field in request:
                attributes[name] = request[field]
        with otel.span("switch", f"iso8583 {mti}", "server", attributes) as span:
            answer = await self._answer(request)
            if span is not None and answer is not None and "39" in answer.response:
                span.set_attribute("iso8583.response_code", answer.response["39"])
            return answer

    async def _answer(self, request: IsoMessage) -> Answer | None:
        trace = RequestTrace()
        tracing(trace)  # this request's task only: answered() reads it back
        metrics = self.metrics
        metrics.in_flight += 1
        started = time.perf_counter()
        try:
            if self.rules is not None:
                rule = self.rules.first_match(switch_facts(request))
                if rule is not None:
                    return await by_rule(rule, request,
                                         lambda usual: self._route(usual, started))
            return await self._route(request, started)
        finally:
            metrics.in_flight -= 1
            if trace.switch_ms is None:
                trace.switch_ms = (time.perf_counter() - started) * 1000

    async def _route(self, request: IsoMessage, started: float) -> Answer | None:
        route = self.routes.get(request["t"])
        if route is None:
            return self._unsupported(request)
        response, reason = await route(request, self.deps)
        trace = current_trace()
        if trace is not None:
            # Up to the answer built: the MAC of the answer (if any) covers field 63 too,
            # so it cannot count its own time.
            trace.switch_ms = (time.perf_counter() - started) * 1000
            if asks_hop_timings(request) and response.get("t") == "0210":
                response = _with_field(response, HOP_TIMINGS_FIELD,
                                       encode_hop_timings(trace.hops))
        return Answer(request, await seal_answer(response, self.deps, self.deps.profile),
                      reason)

    def unreadable(self, error: WireError) -> Answer | None:
        partial = error.partial
        if response_mti(partial.get("t", "")) is None or "11" not in partial:
            # No STAN (or no request MTI): the ATM could not match an answer to its request.
            self.metrics.count_dropped("unanswerable")
            self._warn.warning("unanswerable", "dropped a message that cannot be answered "
                               "(%s; no request MTI and field 11 to address an answer): %s",
                               error, _describe(partial))
            return None
        # What ``salvage`` kept passed its own field's check: the answer never echoes a
        # field that broke the format.
        response = answer(partial, ResponseCode.FORMAT_ERROR)
        self._warn.warning("format error", "format error from terminal %r STAN %s: %s",
                           response.get("41", "?"), response.get("11"), error)
        return Answer(partial, response, str(error))

    def answered(self, answer: Answer, latency_ms: float) -> None:
        request, response, reason = answer.request, answer.response, answer.reason
        trace = current_trace()
        hops = (trace.hops_event() if trace is not None
                else HopTimings(switch_ms=latency_ms).as_event())
        mti, code = request.get("t", ""), response.get("39", "")
        self.metrics.count_request(mti, code, trace.terminal_class if trace else "unchecked")
        if mti == "0200" and trace is not None:
            self.metrics.observe_inquiry(trace)
        level = self._answer_log.level(code)
        if log.isEnabledFor(level):  # the arguments cost more than a skipped call
            pan = mask_pan(request["2"]) if request.get("2") else "-"
            log.log(level, "%s %s term=%s stan=%s pan=%s rc=%s %.1fms%s", mti,
                     response["t"], request.get("41"), request.get("11"), pan, code,
                     latency_ms, f" ({reason})" if reason else "",
                     extra={"mti": mti, "response_mti": response["t"],
                            "terminal_id": request.get("41"), "stan": request.get("11"),
                            "pan": pan, "response_code": code,
                            "latency_ms": round(latency_ms, 3), "reason": reason or None,
                            "hops": hops})
        # Queued, not awaited, at QoS 0 (atm_switch.events): nobody waits for an event, and
        # the broker's PUBACK of each woke the switch once more per inquiry.
        event = transaction_event(request, response, latency_ms, reason, hops)
        if not self.deps.bus.publish_soon(EVENTS_TOPIC, event, EVENTS_QOS):
            log.debug("event for STAN %s not published: broker unavailable", event.get("stan"))

    def flush(self) -> None:
        self._answer_log.flush()

    def _unsupported(self, request: IsoMessage) -> Answer | None:
        """A request or advice of an MTI this switch does not handle gets its response MTI
        with 12; anything else (a response, a notification) is dropped."""
        mti = request["t"]
        if response_mti(mti) is not None:
            return Answer(request, answer(request, ResponseCode.UNSUPPORTED_TRANSACTION),
                          f"MTI {mti} not supported")
        self.metrics.count_dropped("not_a_request")
        self._warn.warning("unexpected MTI", "dropped a message with MTI %s from terminal %r: "
                           "not a request", mti, request.get("41", "?"))
        return None


class AnswerLog:
    """How each answer's log line is logged: the first ``per_second`` answers of each
    second at INFO, the rest at DEBUG and counted; ``flush`` (the switch's housekeeping,
    about once a second) then writes one INFO line with their count by response code.

    At a few inquiries a second every answer is an INFO line; under load the INFO log
    gets ten lines and a summary a second instead of thousands (a line cost 8-11% of the
    switch's throughput, BENCHMARKS.md). DEBUG logs every answer.

    >>> clock = iter([0.0, 1.5]).__next__
    >>> answers = AnswerLog(logging.getLogger("doctest.answers"), per_second=2, clock=clock)
    >>> [logging.getLevelName(answers.level(code)) for code in ("00", "55", "00")]
    ['INFO', 'INFO', 'DEBUG']
    >>> answers.summary()
    'answered 1 more in the last 1.5 s, not logged one by one at INFO: rc=00 x1'
    """

    def __init__(self, logger: logging.Logger, per_second: int = 10,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.per_second = per_second
        self._clock = clock
        self._window = clock()
        self._logged = 0
        self._counted: dict[str, int] = {}

    def level(self, code: str) -> int:
        """The level to log the answer with response code ``code`` at."""
        if self._logged < self.per_second:
            self._logged += 1
            return logging.INFO
        self._counted[code] = self._counted.get(code, 0) + 1
        return logging.DEBUG

    def summary(self) -> str:
        """The line for the answers counted in this window ("" if none); starts the next."""
        now = self._clock()
        counted, self._counted = self._counted, {}
        elapsed, self._window, self._logged = now - self._window, now, 0
        if not counted:
            return ""
        codes = ", ".join(f"rc={code} x{n:,}" for code, n in sorted(counted.items()))
        return (f"answered {sum(counted.values()):,} more in the last {elapsed:.1f} s, "
                f"not logged one by one at INFO: {codes}")

    def flush(self) -> None:
        """Write the summary of the window if it is a second old."""
        if self._clock() - self._window >= 1.0:
            line = self.summary()
            if line:
                self.logger.info(line)


def _with_field(message: IsoMessage, number: str, value: str) -> IsoMessage:
    """``message`` with field ``number`` set, its fields kept in wire order."""
    fields = {**message, number: value}
    return {"t": fields.pop("t"), **dict(sorted(fields.items(), key=lambda kv: int(kv[0])))}


# The request fields a span may show: none of them is secret (the PAN, PIN block, track
# data and MACs are never span data).
_SPAN_FIELDS = (("3", "iso8583.processing_code"), ("11", "iso8583.stan"),
                ("41", "iso8583.terminal_id"), ("32", "iso8583.acquirer_id"))


def _describe(partial: IsoMessage) -> str:
    """What was read of a message that could not be answered, PAN masked."""
    if not partial:
        return "nothing readable"
    shown = {k: (mask_pan(v) if k == "2" else v) for k, v in partial.items()
             if k in ("t", "2", "11", "41")}
    return ", ".join(f"{'MTI' if k == 't' else 'field ' + k} {v!r}" for k, v in shown.items())
