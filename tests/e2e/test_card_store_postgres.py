"""The card store on PostgreSQL (``--cards-db postgresql://...``): what the SQLite file does,
shared by switches on several machines; the race across two switches is in test_pin_tries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atm_switch.card_store import CardStatus
from atmsim.kernel.demo_data import DEMO_CARDS
from atmsim.shell.provisioning import open_card_store, provision_switch
from hsm_mock.lmk import VariantLmk
from tests.ledger.conftest import postgres_base_url, postgres_schema

ATMSIM = str(Path(sys.executable).with_name("atmsim"))
LMK = VariantLmk.test()


@pytest.fixture
def cards_url() -> Iterator[str]:
    with postgres_schema(postgres_base_url()) as (url, _):
        yield url


def _cards(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMSIM_")}
    return subprocess.run([ATMSIM, "cards", *args, "--data-dir", str(data_dir)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cards_commands_work_on_a_postgres_card_store(cards_url: str, tmp_path: Path) -> None:
    listed = _cards(tmp_path, "list", "--cards-db", cards_url)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.strip().splitlines()) == 1 + len(DEMO_CARDS)
    assert not (tmp_path / "switch" / "cards.db").exists()  # nothing went to the file
    budi = DEMO_CARDS[0]
    store = open_card_store(tmp_path, LMK, cards_url)
    try:
        assert store.set_status(budi.pan, CardStatus.PIN_BLOCKED)
    finally:
        store.close()
    assert "PIN_BLOCKED" in _cards(tmp_path, "list", "--cards-db", cards_url).stdout
    unblocked = _cards(tmp_path, "unblock", budi.pan, "--cards-db", cards_url)
    assert unblocked.returncode == 0, unblocked.stderr
    assert "PIN_BLOCKED" not in _cards(tmp_path, "list", "--cards-db", cards_url).stdout
    for text in (listed.stdout, unblocked.stdout, unblocked.stderr):
        assert budi.pan not in text and "atmsim:atmsim@" not in text


def test_a_card_store_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    for url, message in (("postgresql://atmsim:secret@127.0.0.1:9/cards", "cannot connect"),
                         ("mysql://host/cards", "use a file path")):
        run = _cards(tmp_path, "list", "--cards-db", url)
        assert run.returncode == 2 and message in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and "secret" not in run.stderr


def test_two_switches_on_one_store_take_a_key_change_once_and_keep_issue_order(
        cards_url: str, tmp_path: Path) -> None:
    assert provision_switch(tmp_path / "a", LMK, cards_url)
    assert not provision_switch(tmp_path / "b", LMK, cards_url)  # one database, made once
    first, second = (open_card_store(tmp_path / d, LMK, cards_url) for d in ("a", "b"))
    try:
        request = first.request_key_change("BNI00001")
        taken = [first.take_key_change_request(), second.take_key_change_request()]
        assert taken.count(None) == 1 and (request, "BNI00001") in taken
        assert second.key_change_result(request) is None
        first.finish_key_change_request(request, "generation 2")
        assert second.key_change_result(request) == "generation 2"
        # The PAN keys were made once and unwrap the same: a card reads alike in both.
        budi = DEMO_CARDS[0]
        card = second.card(budi.pan)
        assert card is not None and first.pan(card) == budi.pan
        # A re-issued card keeps its place; the order is the order of issue.
        order = [c.pan_masked for c in first.cards()]
        reissued = first.card(DEMO_CARDS[1].pan)
        assert reissued is not None
        second.set_status(DEMO_CARDS[1].pan, CardStatus.BLOCKED)
        assert [c.pan_masked for c in second.cards()] == order
        # The PIN-try counter is one counter: tries taken at one switch count at the other.
        limit, yymm = 3, "2601"
        for store in (first, second, first):
            assert store.reserve_pin_try(card.pan_hash, limit=limit, expiry=None,
                                         current_yymm=yymm) is not None
        assert second.reserve_pin_try(card.pan_hash, limit=limit, expiry=None,
                                      current_yymm=yymm) is None
        for store in (second, first):
            store.release_pin_try(card.pan_hash)
        assert first.record_wrong_pin(card.pan_hash, limit).tries == 1
        assert second.reserve_pin_try(card.pan_hash, limit=limit, expiry=None,
                                      current_yymm=yymm) is not None
    finally:
        first.close()
        second.close()


def test_a_key_change_goes_to_the_switch_its_atm_is_connected_to(
        cards_url: str, tmp_path: Path) -> None:
    assert provision_switch(tmp_path, LMK, cards_url)
    store = open_card_store(tmp_path, LMK, cards_url)
    try:
        request = store.request_key_change("BNI00001")
        asked = time.time()
        # A switch without that ATM leaves it, for a while, to the one that has it.
        assert store.take_key_change_request(["BNI00002"], now=asked) is None
        assert store.take_key_change_request([], now=asked) is None
        assert store.take_key_change_request(["BNI00002", "BNI00001"], now=asked) == (
            request, "BNI00001")
        # Nobody has it: after the wait, any switch takes it (and reports it).
        late = store.request_key_change("BNI00003")
        assert store.take_key_change_request([], now=time.time() + 5) == (late, "BNI00003")
    finally:
        store.close()
