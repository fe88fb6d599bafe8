"""docs/demo-data.md is what users read instead of the code: its tables must say what a
fresh data directory really holds."""

from __future__ import annotations

import re
from pathlib import Path

from atmsim.kernel.demo_data import DEMO_CARDS, DEMO_KEYS, DEMO_PARTICIPANTS
from hsm_mock.lmk import VariantLmk

DOC = (Path(__file__).resolve().parent.parent / "docs" / "demo-data.md").read_text()


def _rows(first_cell: str) -> list[list[str]]:
    """Table rows whose first cell matches ``first_cell`` (a regex), split into cells."""
    rows = []
    for line in DOC.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(first_cell, cells[0]):
            rows.append(cells)
    return rows


def test_the_card_table_is_the_demo_cards() -> None:
    rows = {r[0]: r for r in _rows(r"[0-9]{16}")}
    assert list(rows) == [c.pan for c in DEMO_CARDS]
    for card in DEMO_CARDS:
        _, pin, holder, nik, kpj = rows[card.pan][:5]
        assert (pin, holder, nik) == (card.pin, card.holder, card.nik)
        assert kpj.startswith(card.kpj or "—")


def test_the_participant_table_is_the_demo_participants() -> None:
    rows = _rows(r"[0-9]{11}")
    assert [(r[0], r[1], r[2]) for r in rows] == [(p.kpj, p.nik, p.name)
                                                  for p in DEMO_PARTICIPANTS]
    for row, who in zip(rows, DEMO_PARTICIPANTS, strict=True):
        assert row[3].startswith(who.status)
        assert row[4] == who.member_since.strftime("%Y-%m")
        assert row[5] == f"{who.employer_name} ({who.employer_npp})"


def test_the_key_table_is_the_demo_keys() -> None:
    rows = {r[0].split()[0]: (r[1], r[2]) for r in _rows(r"(TMK|TPK|PVK|TAK) .*")}
    assert rows == {name: (key.clear_hex, key.kcv) for name, key in DEMO_KEYS.items()}


def test_the_lmk_table_is_the_default_lmk() -> None:
    pairs: dict[str, str] = {}
    for row in _rows(r"[0-9]{2}-[0-9]{2}"):
        pairs[row[0]], pairs[row[2]] = row[1], row[3]
    assert len(pairs) == 20
    assert VariantLmk.from_mapping(pairs).check_value() == VariantLmk.test().check_value()
