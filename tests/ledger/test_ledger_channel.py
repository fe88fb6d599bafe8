"""One figure along the whole channel: for every demo participant the statement's last
closing (read from the ledger database and over MQTT) equals the MQTT balance answer and
the ATM's field 54, on the whole stack (switch, HSM, broker, ledger) over real sockets;
and a contribution posted over MQTT shows at the ATM at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from atmsim.kernel.bus import MqttBus
from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_PARTICIPANTS
from atmsim.kernel.wire.additional_data import decode_balance_amount
from atmsim.shell.provisioning import ledger_db_path
from atmsim.shell.stack import Stack
from bpjs_ledger.jht import Period
from bpjs_ledger.service import (
    BALANCE_REQUEST_TOPIC,
    CONTRIBUTION_POST_TOPIC,
    STATEMENT_REQUEST_TOPIC,
)
from bpjs_ledger.store import LedgerStore
from tests.e2e.atm import card, inquire, link_to

PARTICIPANT = {p.kpj: p for p in DEMO_PARTICIPANTS}


def inquiry(nik: str, kpj: str) -> dict[str, Any]:
    return {"nik": nik, "kpj": kpj, "channel": "ATM", "terminal_id": "BNI00001",
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds")}


async def test_statement_closing_equals_mqtt_balance_equals_field_54(stack: Stack) -> None:
    assert stack.endpoint is not None
    cases = [(c, c.kpj) for c in DEMO_CARDS if c.kpj] + [(card("Andi"), "13055500011")]
    figures: dict[str, tuple[int, ...]] = {}
    async with MqttBus(stack.endpoint, "channel-test") as bus, link_to(stack) as link:
        assert await bus.wait_connected(10)
        await link.sign_on()
        for demo, kpj in cases:
            statement = await bus.request(STATEMENT_REQUEST_TOPIC, inquiry(demo.nik, kpj), 5)
            balance = await bus.request(BALANCE_REQUEST_TOPIC, inquiry(demo.nik, kpj), 5)
            response, result = await inquire(link, demo, kpj=None if demo.kpj else kpj)
            assert response["39"] == "00", (demo.holder, response["39"])
            figures[kpj] = (statement["years"][-1]["closing_sen"], statement["balance_sen"],
                            balance["balance_sen"], decode_balance_amount(response["54"]),
                            result.balance_sen or 0)
    with LedgerStore(ledger_db_path(stack.data_dir)) as store:
        for kpj in figures:
            direct = store.account_statement(kpj)
            assert direct is not None
            figures[kpj] += (direct.years[-1].closing_sen,)

    assert set(figures) == set(PARTICIPANT)  # every demo participant, Andi by typed KPJ
    for kpj, same in figures.items():
        assert len(set(same)) == 1 and same[0] > 0, (PARTICIPANT[kpj].name, same)


async def test_a_posted_contribution_shows_at_the_atm(stack: Stack) -> None:
    assert stack.endpoint is not None
    budi = card("Budi")
    async with MqttBus(stack.endpoint, "employer") as bus, link_to(stack) as link:
        assert await bus.wait_connected(10)
        await link.sign_on()
        before = await bus.request(BALANCE_REQUEST_TOPIC, inquiry(budi.nik, str(budi.kpj)), 5)
        as_of = datetime.fromisoformat(before["as_of"]).date()
        posted = await bus.request(CONTRIBUTION_POST_TOPIC, {
            "key": "channel-test-1", "kpj": budi.kpj,
            "npp": PARTICIPANT[str(budi.kpj)].employer_npp,
            "period": str(Period.of(as_of)), "wage_sen": 10_000_000_00,
            "paid_on": (as_of + timedelta(days=1)).isoformat()}, 5)
        response, _ = await inquire(link, budi)

    assert posted["result"] == "POSTED", posted
    # The balance date is the end of last month and the posting is today: the same year,
    # or the next one with last year already credited, so nothing but the post moves it.
    assert decode_balance_amount(response["54"]) == before["balance_sen"] + posted["jht_sen"]
    assert posted["jht_sen"] == 570_000_00  # 5.7% of Rp10,000,000
