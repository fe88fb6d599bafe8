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

With tracing on (``--otel URL``, docs/tracing.md), each decoded request is a SERVER span
("iso8583 0200"): its MTI, processing code, terminal, STAN and the response code, never
the PAN; the pipeline's steps, the HSM commands and the ledger request are its children.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from atm_switch.balance_inquiry import answer_balance_inquiry
from atm_switch.channel import Answer
from atm_switch.deps import SwitchDeps
from atm_switch.events import EVENTS_TOPIC, transaction_event
from atm_switch.host_rules import by_rule, switch_facts
from atm_switch.message_security import seal_answer
from atm_switch.message_types import response_mti
from atm_switch.network_management import answer_network_management
from atm_switch.responses import answer
from atm_switch.reversal import answer_reversal
from atmsim.kernel import otel
from atmsim.kernel.log_limits import RateLimitedLog
from atmsim.kernel.masking import mask_pan
from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.rules import RuleBook
from atmsim.kernel.wire import IsoMessage, WireError

__all__ = ["Dispatcher", "Route"]

log = logging.getLogger("atmsim.switch")

# A route answers one decoded request: the response and a reason for the log and the event.
Route = Callable[[IsoMessage, SwitchDeps], Awaitable[tuple[IsoMessage, str]]]


class Dispatcher:
    """The switch's ``RequestListener``: ``routes`` maps an MTI to its pipeline;
    ``rules`` (None: none) may answer a request first."""

    def __init__(self, deps: SwitchDeps, warn: RateLimitedLog,
                 rules: RuleBook | None = None) -> None:
        self.deps = deps
        self._warn = warn
        self.rules = rules
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
        if self.rules is not None:
            rule = self.rules.first_match(switch_facts(request))
            if rule is not None:
                return await by_rule(rule, request, self._route)
        return await self._route(request)

    async def _route(self, request: IsoMessage) -> Answer | None:
        route = self.routes.get(request["t"])
        if route is None:
            return self._unsupported(request)
        response, reason = await route(request, self.deps)
        return Answer(request, await seal_answer(response, self.deps, self.deps.profile),
                      reason)

    def unreadable(self, error: WireError) -> Answer | None:
        partial = error.partial
        if response_mti(partial.get("t", "")) is None or "11" not in partial:
            # No STAN (or no request MTI): the ATM could not match an answer to its request.
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
        if log.isEnabledFor(logging.INFO):  # the arguments cost more than a skipped call
            log.info("%s %s term=%s stan=%s pan=%s rc=%s %.1fms%s", request.get("t"),
                     response["t"], request.get("41"), request.get("11"),
                     mask_pan(request["2"]) if request.get("2") else "-",
                     response.get("39"), latency_ms, f" ({reason})" if reason else "")
        # Queued, not awaited: nobody waits for an event, and a task per inquiry to wait
        # for the broker's PUBACK cost more than the event itself.
        event = transaction_event(request, response, latency_ms, reason)
        if not self.deps.bus.publish_soon(EVENTS_TOPIC, event):
            log.debug("event for STAN %s not published: broker unavailable", event.get("stan"))

    def _unsupported(self, request: IsoMessage) -> Answer | None:
        """A request or advice of an MTI this switch does not handle gets its response MTI
        with 12; anything else (a response, a notification) is dropped."""
        mti = request["t"]
        if response_mti(mti) is not None:
            return Answer(request, answer(request, ResponseCode.UNSUPPORTED_TRANSACTION),
                          f"MTI {mti} not supported")
        self._warn.warning("unexpected MTI", "dropped a message with MTI %s from terminal %r: "
                           "not a request", mti, request.get("41", "?"))
        return None


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
