"""Tracing (docs/tracing.md): one balance inquiry is one trace across the switch, its HSM
call, the MQTT request and the ledger, over real sockets, brokers and databases; the
ledger continues it from a W3C traceparent (an MQTT 5 user property on Mosquitto, a JSON
key on amqtt's 3.1.1), and a malformed one starts a new trace instead of failing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from atmsim.kernel import otel
from atmsim.kernel.bus import MqttBus
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.otel import start_tracing
from atmsim.shell.stack import Stack
from tests.conftest import stack_settings
from tests.e2e.atm import card, inquire, link_to

BALANCE_TOPIC = "bpjs/jht/v1/balance/req"
# What a PAN, NIK or KPJ looks like: a value that is all digits, 11 to 19 of them.
SECRET_SHAPED = re.compile(r"[0-9]{11,19}")


@pytest.fixture
async def traced(broker: EmbeddedBroker, data_dir: Path
                 ) -> AsyncIterator[tuple[Stack, InMemorySpanExporter]]:
    """The back end on each session broker, every part traced into memory."""
    exporter = InMemorySpanExporter()
    spans = start_tracing({"switch", "ledger", "hsm"}, exporter=exporter)
    settings = stack_settings(data_dir, broker.endpoint.secret_url)
    settings.mqtt.protocol = broker.endpoint.protocol
    settings.mqtt.shared_subscriptions = "yes" if broker.endpoint.shared_subscriptions else "no"
    try:
        async with Stack(settings) as stack:
            yield stack, exporter
    finally:
        spans.close()
    assert otel.tracer("switch") is None  # closing switched it off


async def finished(exporter: InMemorySpanExporter, wanted: str, count: int = 1
                   ) -> Sequence[ReadableSpan]:
    """The spans ended so far, once ``count`` named ``wanted`` are among them (each span
    is exported as it ends; the ledger's may end just after the ATM has its answer)."""
    for _ in range(100):
        spans = exporter.get_finished_spans()
        if sum(s.name == wanted for s in spans) >= count:
            return spans
        await asyncio.sleep(0.05)
    raise AssertionError(f"no span {wanted!r} among {[s.name for s in spans]}")


def service(span: ReadableSpan) -> object:
    return span.resource.attributes.get("service.name")


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_one_inquiry_is_one_trace_across_the_parts(
        traced: tuple[Stack, InMemorySpanExporter]) -> None:
    stack, exporter = traced
    siti = card("Siti")
    async with link_to(stack) as link:
        await link.sign_on()
        _, result = await inquire(link, siti)
    assert result.response_code == "00"
    spans = await finished(exporter, f"{BALANCE_TOPIC} process")

    [server] = [s for s in spans if s.name == "iso8583 0200"]
    assert server.kind is SpanKind.SERVER and server.parent is None
    assert service(server) == "atmsim-switch"
    assert server.attributes is not None
    assert dict(server.attributes) == {
        "iso8583.mti": "0200", "iso8583.processing_code": "310000",
        "iso8583.stan": server.attributes["iso8583.stan"], "iso8583.terminal_id": "BNI00001",
        "iso8583.acquirer_id": server.attributes["iso8583.acquirer_id"],
        "iso8583.response_code": "00"}
    trace = [s for s in spans if s.context.trace_id == server.context.trace_id]
    by_name = {s.name: s for s in trace}

    # The pipeline's steps are the server span's children, in the order they ran.
    steps = [s.name for s in sorted(trace, key=lambda s: s.start_time or 0)
             if parent_of(s) == server.context.span_id]
    assert steps[:3] == ["reject_duplicate", "admit", "validate_request"]
    assert {"verify_pin", "check_card", "query_ledger"} <= set(steps)

    # The HSM command is a CLIENT span of the PIN step; the HSM itself traces it apart.
    hsm_calls = [s for s in trace if s.name.startswith("hsm ")]
    assert hsm_calls and all(s.kind is SpanKind.CLIENT for s in hsm_calls)
    pin_call = next(s for s in hsm_calls if parent_of(s) == by_name["verify_pin"].context.span_id)
    assert pin_call.attributes is not None
    assert pin_call.attributes["hsm.error_code"] in ("00", "02")  # 02: a warning, verified
    assert pin_call.attributes["hsm.command"] in ("DA", "DC", "EA", "EC", "CA")
    hsm_side = [s for s in spans if service(s) == "atmsim-hsm"]
    assert hsm_side and all(s.kind is SpanKind.SERVER for s in hsm_side)

    # The MQTT request: a CLIENT span of query_ledger; the ledger's SERVER span is its
    # child across the broker, and the database query the ledger's child.
    request = by_name[f"{BALANCE_TOPIC} request"]
    assert request.kind is SpanKind.CLIENT and service(request) == "atmsim-switch"
    assert parent_of(request) == by_name["query_ledger"].context.span_id
    assert request.attributes is not None and request.attributes["atmsim.ledger.result"] == "OK"
    ledger = by_name[f"{BALANCE_TOPIC} process"]
    assert ledger.kind is SpanKind.SERVER and service(ledger) == "atmsim-ledger"
    assert parent_of(ledger) == request.context.span_id
    assert ledger.attributes is not None and ledger.attributes["atmsim.ledger.result"] == "OK"
    query = by_name["query balance"]
    assert service(query) == "atmsim-ledger" and parent_of(query) == ledger.context.span_id

    # Nothing secret in any span: not the card's PAN, PIN, NIK or KPJ, nothing shaped so.
    for span in spans:
        for value in list((span.attributes or {}).values()) + [span.name]:
            text = str(value)
            assert not SECRET_SHAPED.fullmatch(text), (span.name, text)
            for secret in (siti.pan, siti.nik, siti.kpj, siti.track2):
                assert secret is None or secret not in text, (span.name, text)


MALFORMED = ("not a traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
             "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
             "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01")


async def test_a_malformed_traceparent_starts_a_new_trace(
        traced: tuple[Stack, InMemorySpanExporter]) -> None:
    stack, exporter = traced
    assert stack.endpoint is not None
    async with MqttBus(stack.endpoint, "tracing-test") as bus:
        assert await bus.wait_connected(10)
        for traceparent in MALFORMED:
            reply = await bus.request(BALANCE_TOPIC, {
                "nik": card("Siti").nik, "kpj": None, "channel": "ATM",
                "terminal_id": "BNI00001", "requested_at": "2026-12-01T10:00:00+07:00"}, 10,
                headers={"traceparent": traceparent})
            assert reply["result"] == "OK", traceparent
    spans = await finished(exporter, f"{BALANCE_TOPIC} process", len(MALFORMED))
    ledger = [s for s in spans if s.name == f"{BALANCE_TOPIC} process"]
    assert len(ledger) == len(MALFORMED)
    assert all(s.parent is None for s in ledger)  # roots: new traces, not the ones named
    assert len({s.context.trace_id for s in ledger}) == len(MALFORMED)
    assert all(s.context.trace_id != 0x4bf92f3577b34da6a3ce929d0e0e4736 for s in ledger)


async def test_a_good_traceparent_from_anyone_is_continued(
        traced: tuple[Stack, InMemorySpanExporter]) -> None:
    stack, exporter = traced
    assert stack.endpoint is not None
    theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with MqttBus(stack.endpoint, "tracing-test") as bus:
        assert await bus.wait_connected(10)
        reply = await bus.request(BALANCE_TOPIC, {
            "nik": card("Budi").nik, "kpj": None, "channel": "ATM", "terminal_id": "BNI00001",
            "requested_at": "2026-12-01T10:00:00+07:00"}, 10, headers={"traceparent": theirs})
    assert reply["result"] == "OK"
    spans = await finished(exporter, f"{BALANCE_TOPIC} process")
    [ledger] = [s for s in spans if s.name == f"{BALANCE_TOPIC} process"]
    assert f"{ledger.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ledger.parent is not None and f"{ledger.parent.span_id:016x}" == "00f067aa0ba902b7"
