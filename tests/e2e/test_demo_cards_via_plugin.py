"""Dogfood: the demo card table of docs/demo-data.md through the pytest plugin's fixtures,
as a bank engineer's own suite would check it."""

from __future__ import annotations

from atmsim import AtmClient
from atmsim.kernel.demo_data import DEMO_CARDS
from atmsim.testing.harness import LedgerClient

EXPECTED = {  # PAN -> response code, KPJ the approval names
    "5264220000100010": ("00", "10012345678"),
    "5264220000100028": ("00", "12087654321"),
    "5264220000100036": ("00", "13055500011"),  # types his KPJ
    "5264220000100044": ("00", "14099900022"),
    "5264220000100051": ("25", None),
    "5371760000200062": ("00", "09012300033"),
}


async def test_every_demo_card_gets_its_documented_outcome(atm: AtmClient,
                                                          ledger: LedgerClient) -> None:
    for card in DEMO_CARDS:
        kpj = None if card.kpj or card.pan.endswith("51") else "13055500011"
        result = await atm.inquire(card.pan, card.pin, kpj=kpj)
        code, expected_kpj = EXPECTED[card.pan]
        assert (result.response_code, result.kpj) == (code, expected_kpj), card.pan
        if result.approved:
            reply = await ledger.balance(card.nik, result.kpj)
            assert reply["balance_sen"] == result.balance_sen
            assert reply["status"] == result.status
