"""A switch's dependencies for one step at a time: a real card database (SQLite in
tmp_path) with one terminal and two cards, a fake HSM and a fake bus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from atm_switch.card_store import CardStore, PanKeys, Terminal
from atm_switch.deps import SwitchDeps
from atm_switch.pipeline import Context
from atmsim.kernel.wire import IsoMessage
from tests.switch.fakes import FakeBus, FakeHsm

TERMINAL = "BNI00001"
IBM_PAN = "5264220000100010"
PVV_PAN = "4111110000200028"
NIK = "3174012345670001"
KPJ = "12345678901"
OK_REPLY = {"id": "x", "result": "OK", "kpj": KPJ, "name": "BUDI SANTOSO",
            "status": "AKTIF", "balance_sen": 1234567800, "as_of": "2024-05-31",
            "currency": "IDR"}


@pytest.fixture
def cards(tmp_path: Path) -> Iterator[CardStore]:
    store = CardStore(tmp_path / "cards.db", lambda _: PanKeys(bytes(32), bytes(32)))
    store.put_terminals([Terminal(TERMINAL, "009", "U" + "1" * 32, "ABCDEF")])
    store.put_card(IBM_PAN, expiry="3012", holder_name="BUDI SANTOSO", nik=NIK, kpj=KPJ,
                   pin_method="IBM3624", pvk_lmk="U" + "2" * 32, pin_check_length=6,
                   pin_offset="1234FFFFFFFF", dec_table="0123456789012345",
                   pin_validation_data="52642200001N")
    store.put_card(PVV_PAN, expiry="3012", holder_name="SITI AMINAH", nik=NIK, kpj=None,
                   pin_method="VISA_PVV", pvk_lmk="U" + "3" * 32, pvki=1, pvv="4321")
    yield store
    store.close()


@pytest.fixture
def hsm() -> FakeHsm:
    return FakeHsm()


@pytest.fixture
def bus() -> FakeBus:
    return FakeBus(reply=dict(OK_REPLY))


@pytest.fixture
def deps(cards: CardStore, hsm: FakeHsm, bus: FakeBus) -> SwitchDeps:
    return SwitchDeps(cards, hsm, bus, hsm_deadline=0.3, ledger_deadline=0.3, pin_tries=3)


def inquiry(**fields: str) -> IsoMessage:
    """A well-formed 0200 from the known terminal for the IBM 3624 card; ``fields``
    replace (or, given as "", remove) fields."""
    message: IsoMessage = {"t": "0200", "2": IBM_PAN, "3": "311000", "4": "000000000000",
                           "7": "1121060000", "11": "000123", "14": "3012", "32": "009",
                           "37": "432106000123", "41": TERMINAL, "49": "360",
                           "52": "0123456789ABCDEF"}
    message.update(fields)
    return {k: v for k, v in message.items() if v != ""}


def context(**fields: str) -> Context:
    return Context(inquiry(**fields))
