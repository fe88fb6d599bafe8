"""Watching the stack run: Prometheus metrics of each part, per-hop timings in events and
on the wire (field 63), and JSON logs (docs/observability.md)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import iso8583
import pytest
from prometheus_client.parser import text_string_to_metric_families

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_KEYS
from atmsim.kernel.wire import default_profile
from atmsim.kernel.wire.hop_timings import decode_hop_timings
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.logs import setup_logging
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink
from terminal_ui.device.pinpad import PinPad
from terminal_ui.device.transactions import CardData, balance_inquiry_request
from tests.conftest import free_port
from tests.e2e.atm import PINPAD, card, inquire, json_messages, link_to
from tests.e2e.conftest import stack_settings

UNKNOWN_KPJ = "19999999999"  # 11 digits, on no participant's file
# What a label value must never look like: a KPJ (11 digits), a PAN (12-19), a NIK (16).
PERSONAL = re.compile(r"[0-9]{11,19}")


@pytest.fixture
async def watched_stack(amqtt_broker: EmbeddedBroker, data_dir: Path) -> AsyncIterator[Stack]:
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol = "3.1.1"
    settings.mqtt.shared_subscriptions = "no"
    for part in (settings.switch, settings.hsm, settings.ledger):
        part.metrics = f"127.0.0.1:{free_port()}"
    async with Stack(settings) as running:
        yield running


async def scrape(stack: Stack, part: str) -> str:
    listener = stack.metrics[part]
    reader, writer = await asyncio.open_connection(listener.host, listener.port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: atmsim\r\nAccept: text/plain\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)  # Connection: close
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head
    return body.decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def malformed_0200() -> bytes:
    """An 0200 with letters in field 3 (n6), encoded without checks: answered 30."""
    fields = {"t": "0200", "2": "5264220000100010", "3": "31A000", "7": "1121060000",
              "11": "654321", "41": "BNI00001", "49": "360", "52": "0123456789ABCDEF"}
    raw, _ = iso8583.encode(fields, default_profile().spec)
    return len(raw).to_bytes(2, "big") + bytes(raw)


async def test_one_scrape_counts_a_known_mix_of_inquiries_exactly(watched_stack: Stack) -> None:
    budi, andi = card("Budi"), card("Andi")
    async with link_to(watched_stack) as link:
        await link.sign_on()
        assert (await inquire(link, budi))[1].response_code == "00"
        assert (await inquire(link, budi, pin="000001"))[1].response_code == "55"
        assert (await inquire(link, andi, kpj=UNKNOWN_KPJ))[1].response_code == "25"
        await link.echo()
        assert watched_stack.switch is not None
        reader, writer = await asyncio.open_connection(watched_stack.switch.host,
                                                       watched_stack.switch.port)
        writer.write(malformed_0200())
        length = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), 5), "big")
        answer = default_profile().decode(await reader.readexactly(length))
        assert answer["39"] == "30"
        writer.close()
        # Each answer is counted as it is written, before the switch's task yields to the
        # loop: before the ATM side reads it.
        switch = await scrape(watched_stack, "switch")
    hsm, ledger = await scrape(watched_stack, "hsm"), await scrape(watched_stack, "ledger")

    got = samples(switch)

    def requests(mti: str, code: str, terminal_class: str) -> float:
        return got.get(("atmsim_switch_requests_total", (
            ("mti", mti), ("response_code", code), ("terminal_class", terminal_class))), 0)

    assert requests("0800", "00", "known") == 1  # the sign-on looked the terminal up
    assert requests("0800", "00", "unchecked") == 1  # the echo test did not
    assert requests("0200", "00", "known") == 1
    assert requests("0200", "55", "known") == 1
    assert requests("0200", "25", "known") == 1
    assert requests("0200", "30", "unchecked") == 1
    assert sum(v for (name, _), v in got.items() if name == "atmsim_switch_requests_total") == 6

    def step_count(step: str) -> float:
        return got[("atmsim_switch_inquiry_step_seconds_count", (("step", step),))]

    # Three PINs verified, two ledger answers (a wrong PIN never reaches the ledger),
    # three inquiries through the pipeline (the malformed one never entered it).
    assert (step_count("hsm"), step_count("ledger"), step_count("total")) == (3, 2, 3)
    assert got[("atmsim_switch_connections_open", ())] == 1  # the link, still open
    assert got[("atmsim_switch_requests_in_flight", ())] == 0
    assert got[("atmsim_switch_shed_total", ())] == 0

    hsm_got = samples(hsm)
    # 02: a right PIN under a double-length PVK (docs/hsm.md), 01: a wrong one
    assert hsm_got[("atmsim_hsm_commands_total", (("command", "DA"), ("error_code", "02")))] == 2
    assert hsm_got[("atmsim_hsm_commands_total", (("command", "DA"), ("error_code", "01")))] == 1
    assert hsm_got[("atmsim_hsm_command_seconds_count", (("command", "DA"),))] == 3
    assert hsm_got[("atmsim_hsm_connections_open", ())] == 1  # the switch's link

    ledger_got = samples(ledger)
    assert ledger_got[("atmsim_ledger_queries_total", (("result", "OK"), ("type", "balance")))] == 1
    assert ledger_got[("atmsim_ledger_queries_total",
                       (("result", "NOT_FOUND"), ("type", "balance")))] == 1
    assert ledger_got[("atmsim_ledger_query_seconds_count", (("type", "balance"),))] == 2

    for text in (switch, hsm, ledger):
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                for value in sample.labels.values():
                    assert not PERSONAL.search(value), (sample.name, value)
        for demo in DEMO_CARDS:
            assert demo.pan not in text and demo.nik not in text
            assert demo.kpj is None or demo.kpj not in text
        assert UNKNOWN_KPJ not in text and "BNI00001" not in text


async def test_metrics_listener_answers_only_get_metrics(watched_stack: Stack) -> None:
    listener = watched_stack.metrics["switch"]
    for request, status in ((b"GET / HTTP/1.1\r\n\r\n", b"404"),
                            (b"POST /metrics HTTP/1.1\r\n\r\n", b"405"),
                            (b"HEAD /metrics HTTP/1.1\r\n\r\n", b"200")):
        reader, writer = await asyncio.open_connection(listener.host, listener.port)
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.split(b" ")[1] == status, answer
    # A scraper that connects and never sends a request costs nothing to the switch.
    with socket.create_connection((listener.host, listener.port)):
        async with link_to(watched_stack) as link:
            assert (await inquire(link, card("Siti")))[1].response_code == "00"


async def test_hops_in_the_event_and_in_field_63_when_the_atm_asks(watched_stack: Stack) -> None:
    endpoint = watched_stack.endpoint
    assert endpoint is not None
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    budi = card("Budi")
    data = CardData(budi.pan, budi.expiry, budi.track2)
    async with aiomqtt.Client(endpoint.host, endpoint.port,
                              protocol=aiomqtt.ProtocolVersion.V311,
                              username=endpoint.username, password=endpoint.password,
                              socket_options=nodelay) as monitor:
        await monitor.subscribe("atmsim/v1/events/tx", qos=1)
        async with link_to(watched_stack) as link:
            asked = await link.exchange(balance_inquiry_request(
                data, PINPAD.encrypt_pin(budi.pin, budi.pan), terminal_id=link.terminal_id,
                stan=link.next_stan(), hop_timings=True))
            plain, _ = await inquire(link, budi)
            wrong, _ = await inquire(link, budi, pin="000002")
        events = await json_messages(monitor, 3)

    assert asked["39"] == "00" and "63" in asked
    hops = decode_hop_timings(asked["63"])
    assert hops.hsm_ms is not None and hops.ledger_ms is not None and hops.switch_ms is not None
    assert 0 < hops.hsm_ms < hops.switch_ms and 0 < hops.ledger_ms < hops.switch_ms
    assert plain["39"] == "00" and "63" not in plain  # not asked: the 0210 of docs/wire.md
    assert wrong["39"] == "55" and "63" not in wrong

    by_stan = {e["stan"]: e for e in events}
    asked_event, wrong_event = by_stan[asked["11"]], by_stan[wrong["11"]]
    assert set(asked_event["hops"]) == {"hsm_ms", "ledger_ms", "switch_ms"}
    assert asked_event["hops"] == hops.as_event()  # the same figures as on the wire
    assert wrong_event["hops"]["ledger_ms"] is None  # a wrong PIN never reaches the ledger
    assert wrong_event["hops"]["hsm_ms"] > 0 and wrong_event["hops"]["switch_ms"] > 0
    assert budi.pan not in json.dumps(events)


async def test_a_json_log_of_an_inquiry_parses_and_holds_no_clear_pan(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol = "3.1.1"
    settings.mqtt.shared_subscriptions = "no"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    setup_logging("DEBUG", stream, log_format="json", part="up")
    try:
        async with Stack(settings) as stack, link_to(stack) as link:
            await inquire(link, card("Budi"))
            await inquire(link, card("Budi"), pin="000003")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"ts", "level", "logger", "message", "part"} <= set(line)
                         for line in lines)
    answered = [line for line in lines if line.get("mti") == "0200"]
    assert [line["response_code"] for line in answered] == ["00", "55"]
    first = answered[0]
    assert (first["part"], first["logger"], first["pan"]) == (
        "switch", "atmsim.switch", "526422******0010")
    assert set(first["hops"]) == {"hsm_ms", "ledger_ms", "switch_ms"}
    assert {line["part"] for line in lines} >= {"switch", "hsm", "ledger"}
    text = stream.getvalue()
    budi = card("Budi")
    assert budi.pan not in text and budi.pin not in text
    assert PINPAD.encrypt_pin(budi.pin, budi.pan) not in text
    assert DEMO_KEYS["TPK"].clear_hex not in text


async def test_a_maced_inquiry_gets_its_hop_timings_under_the_answers_mac(
        watched_stack: Stack) -> None:
    assert watched_stack.switch is not None
    pinpad = PinPad(DEMO_KEYS["TPK"].clear_hex, DEMO_KEYS["TAK"].clear_hex,
                    DEMO_KEYS["TMK"].clear_hex)
    siti = card("Siti")
    link = AtmHostLink(watched_stack.switch.host, watched_stack.switch.port,
                       terminal_id="BNI00001", timeout=10.0, pinpad=pinpad, send_mac=True)
    async with link:
        await link.sign_on()
        # The link refuses an answer whose MAC does not verify: this one carries field 63
        # and a MAC over it.
        answer = await link.exchange(balance_inquiry_request(
            CardData(siti.pan, siti.expiry, siti.track2), pinpad.encrypt_pin(siti.pin, siti.pan),
            terminal_id=link.terminal_id, stan=link.next_stan(), hop_timings=True))
    assert answer["39"] == "00" and "64" in answer
    assert decode_hop_timings(answer["63"]).ledger_ms is not None
