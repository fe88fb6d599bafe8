"""Reversals over real sockets: 0420/0421 -> 0430 against the whole stack, the inquiry fee
they refund, and the ATM's store-and-forward queue across a restart."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from atm_switch.journal import InquiryKey, TransactionJournal, journal_path
from atmsim.kernel.wire import IsoMessage
from atmsim.kernel.wire.reversal import OriginalData
from atmsim.shell import journal_cli
from atmsim.shell.cli import build_parser
from atmsim.shell.provisioning import load_lmk, open_card_store
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink, HostTimeout
from terminal_ui.device.store_and_forward import SafQueue, forward_reversals, saf_path
from terminal_ui.device.transactions import (
    CardData,
    balance_inquiry_request,
    repeat_of,
    reversal_request,
)
from tests.conftest import EmbeddedBroker
from tests.e2e.atm import PINPAD, card, json_messages, link_to
from tests.e2e.conftest import stack_settings

FEE_SEN = 250_000  # Rp2.500,00


@pytest.fixture
async def fee_stack(amqtt_broker: EmbeddedBroker, data_dir: Path) -> AsyncIterator[Stack]:
    """The back end charging an inquiry fee."""
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol = "3.1.1"
    settings.mqtt.shared_subscriptions = "no"
    settings.switch.inquiry_fee = FEE_SEN
    async with Stack(settings) as running:
        yield running


def _inquiry(link: AtmHostLink, first_name: str = "Budi") -> IsoMessage:
    demo = card(first_name)
    return balance_inquiry_request(CardData(demo.pan, demo.expiry, demo.track2),
                                   PINPAD.encrypt_pin(demo.pin, demo.pan),
                                   terminal_id=link.terminal_id, stan=link.next_stan())


def _journal(stack: Stack, *extra: str) -> list[dict[str, object]]:
    """``atmsim journal --json`` on the stack's data directory, as a user runs it."""
    args = build_parser().parse_args(["journal", "--data-dir", str(stack.data_dir), "--json",
                                      *extra])
    out = io.StringIO()
    assert journal_cli.run(args, out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_reversal_after_a_withheld_0210_is_answered_00_once_the_original_is_done(
        amqtt_stack: Stack) -> None:
    # The ledger is held (stopped): the 0200 waits for it until the ledger deadline, longer
    # than this ATM waits. Its 0420 reaches the switch while the 0200 is still in flight.
    async with link_to(amqtt_stack, timeout=0.3) as link:
        await amqtt_stack.stop_ledger()
        original = _inquiry(link)
        with pytest.raises(HostTimeout):
            await link.exchange(original)
        reversal = reversal_request(original, stan=link.next_stan())
        response = await link.exchange(reversal, timeout=10)
    assert response["t"] == "0430" and response["39"] == "00"
    for echoed in ("2", "3", "4", "7", "11", "32", "37", "41", "49", "90"):
        assert response[echoed] == reversal[echoed], echoed
    assert response["37"] == original["37"]  # the original's RRN
    assert OriginalData.decode(response["90"]).stan == original["11"]
    rows = _journal(amqtt_stack)
    inquiry = next(r for r in rows if r["kind"] == "inquiry" and r["stan"] == original["11"])
    assert inquiry["response_code"] == "91" and "reversed (reason 68)" in str(inquiry["note"])
    assert any(r["kind"] == "0420" and str(r["note"]).startswith("reversed") for r in rows)
    assert all("5264220000100010" not in json.dumps(r) for r in rows)


async def test_a_reversal_refunds_the_fee_once_however_many_race_and_repeat(
        fee_stack: Stack) -> None:
    async with link_to(fee_stack) as link:
        original = _inquiry(link)
        approved = await link.exchange(original)
        assert approved["39"] == "00" and approved["28"] == "D00250000"
        # Ten reversals of one original at once (an ATM and its retries racing).
        reversals = [reversal_request(original, stan=link.next_stan()) for _ in range(10)]
        answers = await asyncio.gather(*(link.exchange(r) for r in reversals))
        assert [a["39"] for a in answers] == ["00"] * 10
        # A repeat 0421 gets the same 0430 every time.
        repeat = repeat_of(reversals[0])
        again = [await link.exchange(repeat) for _ in range(3)]
    assert again[0] == again[1] == again[2]
    assert again[0]["t"] == "0430" and again[0]["39"] == "00"
    assert {k: v for k, v in again[0].items() if k != "t"} == \
        {k: v for k, v in answers[0].items() if k != "t"}
    rows = _journal(fee_stack)
    inquiry = next(r for r in rows if r["kind"] == "inquiry")
    assert inquiry["fee"] == "reversed 250000"
    reversal_rows = [r for r in rows if r["kind"] in ("0420", "0421")]
    assert len(reversal_rows) == 13
    assert [r["fee"] for r in reversal_rows].count("refunded 250000") == 1
    assert [str(r["note"]).split(":")[0] for r in reversal_rows].count("reversed") == 1


async def test_unknown_original_is_answered_25(amqtt_stack: Stack) -> None:
    async with link_to(amqtt_stack) as link:
        original = _inquiry(link)
        never_sent = reversal_request(original, stan=link.next_stan())
        assert (await link.exchange(never_sent))["39"] == "25"
        # A known original, but the reversal names another card: not that original either.
        await link.exchange(original)
        other_card = {**reversal_request(original, stan=link.next_stan()),
                      "2": card("Siti").pan}
        assert (await link.exchange(other_card))["39"] == "25"
        broken = {**reversal_request(original, stan=link.next_stan()), "90": "0200" + "1" * 38}
        assert (await link.exchange(broken))["39"] == "25"
        no_90 = {k: v for k, v in reversal_request(original, stan=link.next_stan()).items()
                 if k != "90"}
        assert (await link.exchange(no_90))["39"] == "30"
        assert (await link.exchange(reversal_request(original, stan=link.next_stan())))["39"] \
            == "00"


async def test_store_and_forward_survives_an_atm_restart_in_order(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    assert amqtt_stack.switch is not None
    queue_file = saf_path(tmp_path / "atm", "127.0.0.1", amqtt_stack.switch.port)
    originals = []
    # The ATM times out twice (ledger held), queues both reversals and stops before
    # sending them, the second after counting an attempt (its answer never came).
    async with link_to(amqtt_stack, timeout=0.3) as link:
        await amqtt_stack.stop_ledger()
        queue = SafQueue(queue_file)
        for name in ("Budi", "Siti"):
            original = _inquiry(link, name)
            with pytest.raises(HostTimeout):
                await link.exchange(original)
            originals.append(original)
            queue.add(reversal_request(original, stan=link.next_stan()))
        head = queue.head(link.terminal_id)
        assert head is not None
        queue.attempting(head, now=0.0)  # due again at once: the clock is far past 0
        queue.close()
    assert "5264220000100010" not in queue_file.read_bytes().decode("latin-1")
    await amqtt_stack.start_ledger()

    restarted = SafQueue(queue_file)
    try:
        assert restarted.pending("BNI00001") == 2
        async with link_to(amqtt_stack) as link:
            assert await forward_reversals(link, restarted, timeout=10) == 2
        assert restarted.pending() == 0
    finally:
        restarted.close()
    rows = [r for r in _journal(amqtt_stack) if r["kind"] in ("0420", "0421")]
    # In order: Budi's reversal first, as a repeat (an attempt was counted), then Siti's.
    assert [r["kind"] for r in rows] == ["0421", "0420"]
    assert [str(r["note"]).split("STAN ")[1][:6] for r in rows] == \
        [o["11"] for o in originals]
    assert all(str(r["note"]).startswith("reversed") for r in rows)


async def test_store_and_forward_keeps_a_reversal_the_switch_does_not_answer(
        tmp_path: Path) -> None:
    # A switch that reads everything and answers nothing: the reversal stays queued, its
    # next attempt pushed back, and the next one will be the 0421.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    queue = SafQueue(saf_path(tmp_path, "127.0.0.1", port))
    try:
        async with server, AtmHostLink("127.0.0.1", port, terminal_id="BNI00001",
                                       timeout=0.2) as link:
            original = _inquiry(link)
            queue.add(reversal_request(original, stan=link.next_stan()))
            assert await forward_reversals(link, queue) == 0
            assert await forward_reversals(link, queue) == 0  # not due yet: nothing sent
        item = queue.head("BNI00001")
        assert item is not None and item.attempts == 1
    finally:
        queue.close()


async def test_a_reversal_is_published_as_an_event_masked(amqtt_stack: Stack) -> None:
    endpoint = amqtt_stack.endpoint
    assert endpoint is not None
    async with aiomqtt.Client(endpoint.host, endpoint.port,
                              protocol=aiomqtt.ProtocolVersion.V311,
                              username=endpoint.username, password=endpoint.password) as monitor:
        await monitor.subscribe("atmsim/v1/events/tx", qos=1)
        async with link_to(amqtt_stack) as link:
            original = _inquiry(link)
            await link.exchange(original)
            await link.exchange(reversal_request(original, stan=link.next_stan()))
        events = await json_messages(monitor, 2)
    event = next(e for e in events if e["mti"] == "0420")
    assert (event["response_mti"], event["response_code"]) == ("0430", "00")
    assert event["rrn"] == original["37"] and event["pan"] == "526422******0010"
    assert event["reason"].startswith(f"reversed: original STAN {original['11']}")
    assert "5264220000100010" not in json.dumps(events)


async def test_an_original_that_arrives_after_its_reversal_is_charged_nothing(
        fee_stack: Stack) -> None:
    async with link_to(fee_stack) as link:
        original = _inquiry(link)
        reversal = reversal_request(original, stan=link.next_stan())
        assert (await link.exchange(reversal))["39"] == "25"  # not there yet
        late = await link.exchange(original)  # held up somewhere, it comes after all
        assert late["39"] == "00" and "28" not in late
        assert (await link.exchange(repeat_of(reversal)))["39"] == "00"  # now it is known
    rows = _journal(fee_stack)
    inquiry = next(r for r in rows if r["kind"] == "inquiry")
    assert inquiry["fee"] == "-" and "reversed (reason 68)" in str(inquiry["note"])
    assert all(r["fee"] == "-" for r in rows)  # nothing charged, nothing to refund


async def test_a_reversal_another_switch_took_spares_the_late_original_its_fee(
        fee_stack: Stack) -> None:
    budi = card("Budi")
    store = open_card_store(fee_stack.data_dir, load_lmk(""))
    try:
        pan_hash = store.pan_hash(budi.pan)
    finally:
        store.close()
    other_switch = TransactionJournal(journal_path(fee_stack.data_dir))
    try:
        async with link_to(fee_stack) as link:
            first = await link.exchange(_inquiry(link))
            assert first["39"] == "00" and first["28"] == "D00250000"  # fee charged
            original = _inquiry(link)
            # Its 0420 reached the other switch first (the ATM reconnected there) and
            # found nothing to reverse; the 0200 itself arrives here afterwards.
            other_switch.record_reversal(
                InquiryKey(original["41"], original["11"], original["7"], pan_hash),
                mti="0420", stan=link.next_stan(), original_mti="0200",
                original_acquirer_id=original["32"], pan_masked="526422******0010",
                reason="68", response_code="25", outcome="unknown original",
                fee_refunded_sen=0)
            late = await link.exchange(original)
            assert late["39"] == "00" and "28" not in late  # no fee
            assert (await link.exchange(_inquiry(link)))["28"] == "D00250000"  # others pay
    finally:
        other_switch.close()
    assert fee_stack.switch is not None and fee_stack.switch.deps.journal is not None
    fee_stack.switch.deps.journal.flush()  # its last group of inquiries, not yet written
    [inquiry] = [r for r in _journal(fee_stack)
                 if r["kind"] == "inquiry" and r["stan"] == original["11"]]
    assert inquiry["fee"] == "-" and "reversed (reason 68)" in str(inquiry["note"])
