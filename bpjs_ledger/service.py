"""The ledger on the bus: balance and statement inquiries and contribution posts in over
MQTT, answers out (docs/ledger.md, "Over MQTT"; the JSON is built in
``messages``).

``LedgerService`` joins a ``LedgerStore`` to a ``Bus``; ``run_ledger`` owns the buses and
stores of N workers and serves until told to stop (the CLI's entry point). Each worker
runs its database calls on a thread of its own, so a slow query or a commit waiting for
the disk never stalls the worker's MQTT traffic, and its connection is only ever used by
that one thread.

A request that cannot be understood gets an ERROR reply saying why, never a traceback,
and the service keeps answering; a database that fails gets an ERROR reply too ("internal
error: ..."), and the worker carries on with the next request. Messages that are not
JSON objects, or have no ``reply_to``, cannot be answered; the bus drops and logs them.
So does a request whose ``reply_to`` is not a concrete topic under the requester's
``atmsim/v1/reply/`` prefix (``atmsim.kernel.bus.check_reply_topic``: no wildcard, NUL, empty
level, nothing over 256 bytes): the ledger never publishes a participant's data to a topic
a requester merely named, and never sends the broker a topic that makes it drop us.
A post is answered only after its transaction has committed.

With rules (``atmsim ledger --rules FILE``, docs/rules.md), the first rule matching a
request (its ``type``: balance, statement or post; its ``kpj``, ``channel``, ``terminal``
and any field by regex) answers it instead: an ERROR reply, no reply at all, or the usual
reply, each after the rule's delay.

With tracing on (``--otel URL``, docs/tracing.md), each request is a SERVER span that
continues the requester's trace (its W3C ``traceparent``: an MQTT 5 user property, or the
``traceparent`` key of the JSON on MQTT 3.1.1; a malformed one starts a new trace), with
the database query as its child. Spans name the request type, id, channel, terminal and
result; never the NIK or KPJ.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from atmsim.kernel import otel
from atmsim.kernel.bus import Bus, MqttBus, MqttEndpoint, request_headers
from atmsim.kernel.masking import mask_digits_in_text
from atmsim.kernel.rules import RuleBook
from bpjs_ledger.answers import BalanceAnswer, ContributionsAnswer, StatementAnswer
from bpjs_ledger.db import StorageError, describe_target, is_postgres_url
from bpjs_ledger.member_services import (
    BSU_REQUEST_TOPIC,
    COMPLAINT_POST_TOPIC,
    MEMBERSHIP_REQUEST_TOPIC,
    VerifyResult,
    bsu_reply,
    complaint_reply,
    membership_reply,
    parse_bsu_programme,
    parse_complaint,
    parse_identity,
)
from bpjs_ledger.messages import (
    BadRequest,
    BalanceRequest,
    balance_reply,
    contributions_error_reply,
    contributions_reply,
    error_reply,
    member_error_reply,
    member_reply,
    parse_member_request,
    parse_post,
    parse_request,
    parse_sms_request,
    post_error_reply,
    post_reply,
    reply_for,
    sms_balance_reply,
    sms_error_reply,
    sms_kpj_reply,
    sms_register_reply,
    statement_error_reply,
    statement_reply,
)
from bpjs_ledger.metrics import LedgerMetrics
from bpjs_ledger.store import LedgerStore

__all__ = [
    "BALANCE_REQUEST_TOPIC",
    "CONTRIBUTION_POST_TOPIC",
    "CONTRIBUTIONS_REQUEST_TOPIC",
    "MEMBER_REQUEST_TOPIC",
    "SHARED_GROUP",
    "SMS_REQUEST_TOPIC",
    "STATEMENT_REQUEST_TOPIC",
    "BadRequest",
    "BalanceRequest",
    "LedgerService",
    "error_reply",
    "parse_request",
    "reply_for",
    "run_ledger",
]

log = logging.getLogger("atmsim.ledger")

BALANCE_REQUEST_TOPIC = "bpjs/jht/v1/balance/req"
STATEMENT_REQUEST_TOPIC = "bpjs/jht/v1/statement/req"
CONTRIBUTION_POST_TOPIC = "bpjs/jht/v1/contribution/post"
MEMBER_REQUEST_TOPIC = "bpjs/jht/v1/member/req"
CONTRIBUTIONS_REQUEST_TOPIC = "bpjs/jht/v1/contributions/req"
SMS_REQUEST_TOPIC = "bpjs/jht/v1/sms/req"
SHARED_GROUP = "bpjs-ledger"

_STORAGE_FAILED = "internal error: ledger storage unavailable"

T = TypeVar("T")
A = TypeVar("A", BalanceAnswer, StatementAnswer, ContributionsAnswer)


class LedgerService:
    """Answers inquiries and posts from ``store`` on ``bus``; ``start`` registers it and
    ``close`` waits for the database call in progress. ``today`` dates the postings."""

    def __init__(self, store: LedgerStore, bus: Bus, *,
                 today: Callable[[], date] = date.today,
                 reader: LedgerStore | None = None, rules: RuleBook | None = None,
                 metrics: LedgerMetrics | None = None) -> None:
        self.store = store
        self.rules = rules
        # Counted always; served only with [ledger] metrics. Shared by run_ledger's workers.
        self.metrics = metrics or LedgerMetrics()
        # SQLite only: a second connection that answers reads on the event loop. A read
        # is one SELECT (or one read transaction) of tens of microseconds, cheaper than
        # the hop to the database thread; its own connection keeps it out of the writer's
        # transaction, and WAL lets it read while the writer commits.
        self.reader = reader
        self.bus = bus
        self._today = today
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-db")

    def start(self) -> None:
        for topic, kind, handler in (
                (BALANCE_REQUEST_TOPIC, "balance", self.handle),
                (STATEMENT_REQUEST_TOPIC, "statement", self.handle_statement),
                (CONTRIBUTION_POST_TOPIC, "post", self.handle_post),
                (MEMBER_REQUEST_TOPIC, "member", self.handle_member),
                (CONTRIBUTIONS_REQUEST_TOPIC, "contributions", self.handle_contributions),
                (MEMBERSHIP_REQUEST_TOPIC, "membership", self.handle_membership),
                (BSU_REQUEST_TOPIC, "bsu", self.handle_bsu),
                (COMPLAINT_POST_TOPIC, "complaint", self.handle_complaint)):
            self.bus.serve(topic, self._spanned(topic, kind, self._measured(
                kind, self._ruled(kind, handler) if self.rules else handler)),
                shared_group=SHARED_GROUP)
        # SMS requests are not ruled (rules match the inquiry types), but counted.
        self.bus.serve(SMS_REQUEST_TOPIC, self._spanned(SMS_REQUEST_TOPIC, "sms", self._measured(
            "sms", self.handle_sms)), shared_group=SHARED_GROUP)

    @staticmethod
    def _spanned(topic: str, kind: str,
                handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
                ) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]:
        """``handler`` in a span continuing the requester's trace, when tracing is on
        (off: ``handler`` itself, not even a wrapper)."""
        if otel.tracer("ledger") is None:
            return handler
        return _traced(topic, kind, handler)

    def _measured(self, kind: str,
                  handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
                  ) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]:
        """``handler`` counted in the metrics: its type, its reply's result, its time."""
        metrics = self.metrics
        clock = time.perf_counter

        async def handle(body: dict[str, Any]) -> dict[str, Any] | None:
            started = clock()
            metrics.in_flight += 1
            result: object = "ERROR"
            try:
                reply = await handler(body)
                result = "NO_REPLY" if reply is None else reply.get("result")
                return reply
            finally:
                metrics.in_flight -= 1
                metrics.answered(kind, result, clock() - started)

        return handle

    def _ruled(self, kind: str, usual: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
               ) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]:
        """``usual`` behind the rules: the first rule matching a request answers it."""

        async def handle(body: dict[str, Any]) -> dict[str, Any] | None:
            rules = self.rules
            rule = None if rules is None else rules.first_match({
                "type": kind, "kpj": body.get("kpj"), "channel": body.get("channel"),
                "terminal": body.get("terminal_id"),
                "fields": {k: v for k, v in body.items() if v is not None}})
            if rule is None:
                return await usual(body)
            action = rule.action
            log.info("rule %r: %s for %s request %s", rule.name, action.kind, kind,
                     _request_id(body))
            wait = action.wait()
            if wait > 0:
                await asyncio.sleep(wait)
            if action.kind == "no_reply":
                return None
            if action.kind == "error":
                reason = action.reason or f"internal error: rule {rule.name}"
                request_id = _request_id(body)
                if kind == "post":
                    key = body.get("key")
                    return post_error_reply(request_id, key if isinstance(key, str) else None,
                                            reason)
                return _ERROR_REPLIES[kind](request_id, reason)
            return await usual(body)

        return handle

    def close(self) -> None:
        self._db_thread.shutdown(wait=True)

    async def _in_db(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_thread,
                                          functools.partial(call, *args, **kwargs))

    async def handle(self, body: dict[str, Any]) -> dict[str, Any]:
        """A balance request in, its reply out; never raises for anything a client sends."""
        return await self._inquiry("balance", body, balance_reply, error_reply)

    async def handle_statement(self, body: dict[str, Any]) -> dict[str, Any]:
        """A statement request in (the balance request's fields), its reply out."""
        return await self._inquiry("statement", body, statement_reply, statement_error_reply)

    async def handle_contributions(self, body: dict[str, Any]) -> dict[str, Any]:
        """A contribution-history request in (the balance request's fields), its reply
        out."""
        return await self._inquiry("contributions", body, contributions_reply,
                                   contributions_error_reply)

    async def handle_member(self, body: dict[str, Any]) -> dict[str, Any]:
        """A membership check in (NIK + birth date + name, optionally KPJ), its reply out."""
        request_id = _request_id(body)
        try:
            request = parse_member_request(body)
        except BadRequest as exc:
            log.warning("member request %s refused: %s", request_id, exc)
            return member_error_reply(request_id, f"bad request: {exc}")
        kpj = None if request.kpj is None else request.kpj.value
        args = (request.nik.value, request.birth_date, request.name, kpj)
        try:
            if self.reader is not None:
                answer = self.reader.member(*args)
            else:
                answer = await self._in_db(self.store.member, *args)
        except StorageError as exc:
            log.error("member request %s failed: %s", request_id, exc)
            return member_error_reply(request_id, _STORAGE_FAILED)
        return member_reply(request_id, answer)

    async def _inquiry(self, kind: str, body: dict[str, Any],
                       reply: Callable[[str | None, A], dict[str, Any]],
                       error: Callable[[str | None, str], dict[str, Any]]) -> dict[str, Any]:
        request_id = _request_id(body)
        try:
            request = parse_request(body)
        except BadRequest as exc:
            log.warning("%s request %s refused: %s", kind, request_id, exc)
            return error(request_id, f"bad request: {exc}")
        kpj = None if request.kpj is None else request.kpj.value
        try:
            with otel.span("ledger", f"query {kind}", "client", self._db_attributes(kind)):
                if self.reader is not None:
                    answer = getattr(self.reader, kind)(request.nik.value, kpj)
                else:
                    answer = await self._in_db(getattr(self.store, kind), request.nik.value,
                                               kpj)
        except StorageError as exc:
            log.error("%s request %s failed: %s", kind, request_id, exc)
            return error(request_id, _STORAGE_FAILED)
        if log.isEnabledFor(logging.DEBUG):  # the masking costs even when the line is not kept
            log.debug("%s request %s from %s/%s nik %s: %s", kind, request_id,
                      request.channel, request.terminal_id,
                      mask_digits_in_text(request.nik.value), answer.result)
        return reply(request_id, answer)

    def _db_attributes(self, kind: str) -> dict[str, str] | None:
        """The database span's attributes (tracing on only): the engine, the query."""
        if otel.tracer("ledger") is None:
            return None
        return {"db.system.name": "sqlite" if self.reader is not None else _engine(self.store),
                "db.operation.name": kind}

    async def handle_post(self, body: dict[str, Any]) -> dict[str, Any]:
        """A contribution post in; the reply leaves only after the commit."""
        request_id = _request_id(body)
        raw_key = body.get("key")
        key = raw_key if isinstance(raw_key, str) else None
        try:
            if not isinstance(body.get("reply_to"), str) or not body["reply_to"]:
                # A post nobody can acknowledge would leave its sender guessing.
                raise BadRequest("reply_to: missing")
            post = parse_post(body)
        except BadRequest as exc:
            log.warning("contribution post %s refused: %s", request_id, exc)
            return post_error_reply(request_id, key, f"bad request: {exc}")
        try:
            outcome = await self._in_db(self.store.post_contribution, post,
                                        today=self._today())
        except StorageError as exc:
            log.error("contribution post %s failed: %s", request_id, exc)
            return post_error_reply(request_id, post.key, _STORAGE_FAILED)
        log.info("contribution post %s key %s KPJ %s period %s: %s%s", request_id, post.key,
                 post.kpj.value, post.period, outcome.result.value,
                 " (already posted)" if outcome.duplicate else "")
        return post_reply(request_id, post.key, outcome, post.kpj.value)


    async def handle_sms(self, body: dict[str, Any]) -> dict[str, Any]:
        """An SMS 2757 request (register, balance, kpj) in, its reply out."""
        request_id = _request_id(body)
        kind = body.get("type") if isinstance(body.get("type"), str) else None
        try:
            request = parse_sms_request(body)
        except BadRequest as exc:
            log.warning("sms request %s refused: %s", request_id, exc)
            return sms_error_reply(request_id, kind, f"bad request: {exc}")
        try:
            if request.registration is not None:
                outcome = await self._in_db(self.store.sms_register, request.registration)
                reply = sms_register_reply(request_id, outcome)
            elif request.kpj is not None:
                result, answer = await self._in_db(self.store.sms_balance, request.msisdn,
                                                   request.kpj)
                reply = sms_balance_reply(request_id, result, answer)
            else:
                assert request.nik is not None
                reply = sms_kpj_reply(request_id, await self._in_db(
                    self.store.sms_kpjs, request.msisdn, request.nik))
        except StorageError as exc:
            log.error("sms request %s failed: %s", request_id, exc)
            return sms_error_reply(request_id, request.type, _STORAGE_FAILED)
        log.debug("sms %s request %s: %s", request.type, request_id, reply["result"])
        return reply

    # -- member services (bpjs_ledger.member_services) ---------------------------------

    async def handle_membership(self, body: dict[str, Any]) -> dict[str, Any]:
        """Membership information after identity verification; never a balance."""
        request_id = _request_id(body)
        try:
            claim = parse_identity(body)
        except BadRequest as exc:
            log.warning("membership request %s refused: %s", request_id, exc)
            return membership_reply(request_id, VerifyResult.ERROR, None, f"bad request: {exc}")
        try:
            result, member = await self._in_db(self.store.membership, claim)
        except StorageError as exc:
            log.error("membership request %s failed: %s", request_id, exc)
            return membership_reply(request_id, VerifyResult.ERROR, None, _STORAGE_FAILED)
        return membership_reply(request_id, result, member)

    async def handle_bsu(self, body: dict[str, Any]) -> dict[str, Any]:
        """BSU candidacy of the verified participant in one programme."""
        request_id = _request_id(body)
        try:
            claim = parse_identity(body)
            year = parse_bsu_programme(body)
        except BadRequest as exc:
            log.warning("BSU request %s refused: %s", request_id, exc)
            return bsu_reply(request_id, VerifyResult.ERROR, None, None, f"bad request: {exc}")
        try:
            result, member, assessment = await self._in_db(self.store.bsu, claim, year)
        except StorageError as exc:
            log.error("BSU request %s failed: %s", request_id, exc)
            return bsu_reply(request_id, VerifyResult.ERROR, None, None, _STORAGE_FAILED)
        return bsu_reply(request_id, result, None if member is None else member.kpj,
                         assessment)

    async def handle_complaint(self, body: dict[str, Any]) -> dict[str, Any]:
        """A complaint in; the reply (with its ticket) leaves after the commit."""
        request_id = _request_id(body)
        try:
            post = parse_complaint(body)
        except BadRequest as exc:
            log.warning("complaint %s refused: %s", request_id, exc)
            return complaint_reply(request_id, "ERROR", reason=f"bad request: {exc}")
        try:
            ticket, duplicate = await self._in_db(self.store.file_complaint, post,
                                                  today=self._today())
        except StorageError as exc:
            log.error("complaint %s failed: %s", request_id, exc)
            return complaint_reply(request_id, "ERROR", reason=_STORAGE_FAILED)
        log.info("complaint %s from %s filed as %s%s", request_id, post.channel, ticket,
                 " (already filed)" if duplicate else "")
        return complaint_reply(request_id, "FILED", ticket, duplicate)


# The ERROR reply of each inquiry type (a rule's "error" action; posts have their own).
_ERROR_REPLIES: dict[str, Callable[[str | None, str], dict[str, Any]]] = {
    "balance": error_reply, "statement": statement_error_reply,
    "member": member_error_reply, "contributions": contributions_error_reply,
    "membership": lambda request_id, reason: membership_reply(
        request_id, VerifyResult.ERROR, None, reason),
    "bsu": lambda request_id, reason: bsu_reply(request_id, VerifyResult.ERROR, None, None,
                                                reason),
    "complaint": lambda request_id, reason: complaint_reply(request_id, "ERROR",
                                                            reason=reason)}


def _engine(store: LedgerStore) -> str:
    return "sqlite" if store.path is not None else "postgresql"


def _traced(topic: str, kind: str,
            handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
            ) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]:
    """``handler`` in a SERVER span continuing the requester's trace."""

    async def handle(body: dict[str, Any]) -> dict[str, Any] | None:
        parent = otel.extract(request_headers.get() or body)
        attributes = {"messaging.system": "mqtt", "messaging.destination.name": topic,
                      "messaging.operation.type": "process", "atmsim.ledger.request": kind}
        for key, name in (("id", "messaging.message.id"), ("channel", "atmsim.channel"),
                          ("terminal_id", "atmsim.terminal_id")):
            value = body.get(key)
            if isinstance(value, str) and len(value) <= 64:
                attributes[name] = value
        with otel.span("ledger", f"{topic} process", "server", attributes,
                          context=parent) as span:
            reply = await handler(body)
            if span is not None:
                result = reply.get("result") if reply is not None else "no reply"
                span.set_attribute("atmsim.ledger.result", str(result))
            return reply

    return handle


def _request_id(body: dict[str, Any]) -> str | None:
    raw_id = body.get("id")
    return raw_id if isinstance(raw_id, str) else None


async def run_ledger(db: Path | str, endpoint: MqttEndpoint, *, workers: int = 1,
                     stop: asyncio.Event | None = None, demo_as_of: date | None = None,
                     ready: asyncio.Event | None = None,
                     today: Callable[[], date] | None = None,
                     connect_timeout: float | None = None,
                     rules: RuleBook | None = None,
                     metrics: LedgerMetrics | None = None) -> None:
    """Serve the ledger in ``db`` (a SQLite file or a ``postgresql://`` URL) on
    ``endpoint`` until ``stop`` is set (or the task is cancelled). Migrates and seeds a
    fresh database first.

    Each worker has its own bus client and its own database connection; the broker's
    shared subscription splits requests among them. Without shared subscriptions (amqtt;
    any MQTT 3.1.1 broker, which cannot say whether it has them) every worker would answer
    every request, so only one runs, with a one-line warning. ``ready`` is set once every
    worker is connected and subscribed. ``today`` dates postings (default: the clock).
    ``metrics``: where every worker counts what it answers (``bpjs_ledger.metrics``).
    With ``connect_timeout``, a broker that cannot be reached at the start raises
    ``BusUnavailable`` within it (later outages are retried for ever). ``rules``: every
    worker answers by them first.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1 and endpoint.shared_subscriptions is False:
        log.warning("shared subscriptions are off for %s: running 1 ledger worker, not %d",
                    endpoint.url, workers)
        workers = 1
    # Creating the schema and seeding is the one long write: keep it off the event loop.
    await asyncio.to_thread(_prepare, db, demo_as_of)
    async with AsyncExitStack() as stack:
        stack.callback(log.info, "ledger stopped")
        buses: list[MqttBus] = []
        for number in range(1, workers + 1):
            store = stack.enter_context(LedgerStore(db, seed_demo=False))
            reader = (None if is_postgres_url(db)
                      else stack.enter_context(LedgerStore(db, seed_demo=False)))
            bus = MqttBus(endpoint, f"ledger-{number}")
            service = LedgerService(store, bus, today=today or date.today, reader=reader,
                                    rules=rules, metrics=metrics)
            stack.callback(service.close)  # after the bus stops, before the store closes
            # Register before connecting: the bus then subscribes before it reports
            # connected, so "connected" means "answering".
            service.start()
            buses.append(await stack.enter_async_context(bus))
            if number == 1 and connect_timeout is not None:
                await bus.established(connect_timeout)
            if number == 1 and workers > 1 and endpoint.shared_subscriptions is None:
                # Only the broker's CONNACK says whether it splits a shared subscription.
                while not await bus.wait_connected(timeout=60):
                    pass
                if not bus.shared_subscriptions:
                    log.warning("broker %s does not offer shared subscriptions (or, on "
                                "MQTT 3.1.1, cannot say so): running 1 ledger worker, not %d",
                                endpoint.url, workers)
                    workers = 1
                    break
        log.info("ledger serving %s with %d worker(s) on %s", describe_target(db), workers,
                 endpoint.url)
        if ready is not None:
            announcer = asyncio.create_task(_announce_ready(buses, ready))
            stack.push_async_callback(_cancel, announcer)
        await (stop or asyncio.Event()).wait()


def _prepare(db: Path | str, demo_as_of: date | None) -> None:
    with LedgerStore(db, demo_as_of=demo_as_of):
        pass


async def _announce_ready(buses: list[MqttBus], ready: asyncio.Event) -> None:
    for bus in buses:
        while not await bus.wait_connected(timeout=60):
            pass
    ready.set()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
