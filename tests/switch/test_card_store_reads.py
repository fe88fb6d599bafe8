"""What the card store answers about terminals and their keys is what the file holds at
that moment, whoever wrote it: this store, another store on the same file (another
switch, ``atmsim cards``), and which retired keys are usable depends on the moment asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from atm_switch.card_store import TAK, TPK, CardStore, MacPolicy, PanKeys, Terminal
from tests.switch.conftest import TERMINAL

OLD_TPK, NEW_TPK, NEWER_TPK = "U" + "1" * 32, "U" + "4" * 32, "U" + "5" * 32


@pytest.fixture
def other(cards: CardStore, tmp_path: Path) -> Iterator[CardStore]:
    """A second store on the same file, as a second switch or ``atmsim cards`` opens it."""
    store = CardStore(tmp_path / "cards.db", lambda _: PanKeys(bytes(32), bytes(32)))
    yield store
    store.close()


def _policy(store: CardStore) -> str:
    terminal = store.terminal(TERMINAL)
    assert terminal is not None
    return terminal.mac_policy


def test_a_policy_set_through_another_connection_is_read_at_once(
        cards: CardStore, other: CardStore) -> None:
    assert _policy(cards) == MacPolicy.OPTIONAL
    assert other.set_terminal_policy(TERMINAL, mac=MacPolicy.REQUIRED)
    assert _policy(cards) == MacPolicy.REQUIRED
    assert other.set_terminal_policy(TERMINAL, mac=MacPolicy.OFF)
    assert _policy(cards) == MacPolicy.OFF
    assert cards.terminal("BNI00099") is None
    other.put_terminals([Terminal("BNI00099", "009", NEW_TPK, "123456")])
    assert cards.terminal("BNI00099") is not None


def test_a_change_seen_while_the_file_is_busy_holds_however_many_lookups_follow(
        cards: CardStore, other: CardStore) -> None:
    other.put_terminals([Terminal("BNI00099", "009", NEW_TPK, "123456")])
    assert _policy(cards) == MacPolicy.OPTIONAL and cards.terminal("BNI00099") is not None
    for _ in range(3):  # another switch settling PIN tries between the lookups
        assert other.set_terminal_policy(TERMINAL, mac=MacPolicy.REQUIRED)
        for _ in range(500):
            assert cards.terminal("BNI00099") is not None
        assert _policy(cards) == MacPolicy.REQUIRED
        assert other.set_terminal_policy(TERMINAL, mac=MacPolicy.OFF)
        for _ in range(500):
            assert cards.terminal("BNI00099") is not None
        assert _policy(cards) == MacPolicy.OFF


def test_keys_changed_through_another_connection_are_usable_at_once(
        cards: CardStore, other: CardStore) -> None:
    assert cards.usable_keys(TERMINAL, TPK, grace=300, now=1_000.0) == [OLD_TPK]
    other.change_keys(TERMINAL, {TPK: (NEW_TPK, "444444")}, now=2_000.0)
    assert cards.usable_keys(TERMINAL, TPK, grace=300, now=2_100.0) == [NEW_TPK, OLD_TPK]
    terminal = cards.terminal(TERMINAL)
    assert terminal is not None and terminal.tpk_lmk == NEW_TPK


def test_this_store_s_own_writes_are_read_at_once(cards: CardStore) -> None:
    assert cards.usable_keys(TERMINAL, TPK, grace=300, now=1_000.0) == [OLD_TPK]
    assert cards.usable_keys(TERMINAL, TAK, grace=300, now=1_000.0) == []
    assert _policy(cards) == MacPolicy.OPTIONAL
    cards.change_keys(TERMINAL, {TPK: (NEW_TPK, "444444"), TAK: ("U" + "6" * 32, "666666")},
                      now=2_000.0)
    assert cards.usable_keys(TERMINAL, TPK, grace=300, now=2_100.0) == [NEW_TPK, OLD_TPK]
    assert cards.usable_keys(TERMINAL, TAK, grace=300, now=2_100.0) == ["U" + "6" * 32]
    assert cards.set_terminal_policy(TERMINAL, mac=MacPolicy.REQUIRED)
    assert _policy(cards) == MacPolicy.REQUIRED
    # Re-installed: its key on file is generation 1 again, the others gone.
    cards.put_terminals([Terminal(TERMINAL, "009", NEWER_TPK, "555555")])
    assert cards.usable_keys(TERMINAL, TPK, grace=300, now=2_100.0) == [NEWER_TPK]
    assert _policy(cards) == MacPolicy.OPTIONAL


def test_a_retired_key_is_usable_until_its_grace_window_ends_exactly(cards: CardStore) -> None:
    cards.change_keys(TERMINAL, {TPK: (NEW_TPK, "444444")}, now=2_000.0)
    cards.change_keys(TERMINAL, {TPK: (NEWER_TPK, "555555")}, now=2_200.0)
    def usable(now: float, grace: float = 300) -> list[str]:
        return cards.usable_keys(TERMINAL, TPK, grace=grace, now=now)
    assert usable(2_250.0) == [NEWER_TPK, NEW_TPK, OLD_TPK]
    assert usable(2_299.999) == [NEWER_TPK, NEW_TPK, OLD_TPK]
    assert usable(2_300.0) == [NEWER_TPK, NEW_TPK]  # retired at 2000: 300 s ago, not less
    assert usable(2_499.0) == [NEWER_TPK, NEW_TPK]
    assert usable(2_500.0) == [NEWER_TPK]
    assert usable(9_999.0) == [NEWER_TPK]
    assert usable(2_250.0) == [NEWER_TPK, NEW_TPK, OLD_TPK]  # asked about an earlier moment
    assert usable(2_250.0, grace=0) == [NEWER_TPK]
    assert usable(2_250.0, grace=240) == [NEWER_TPK, NEW_TPK]
