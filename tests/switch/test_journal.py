"""The transaction journal on its own: what a reversal finds, once, and for how long."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from atm_switch.journal import InquiryKey, TransactionJournal

KEY = InquiryKey("BNI00001", "000123", "1201093000", "hash-of-the-pan")
DAY = 86400.0


def _journal(tmp_path: Path, days: float = 7.0) -> TransactionJournal:
    return TransactionJournal(tmp_path / "switch-journal.db", days)


def test_an_original_is_reversed_once_and_its_fee_refunded_once(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.record_inquiry(KEY, mti="0200", acquirer_id="009", pan_masked="526422******0010",
                           rrn="633509000123", response_code="00", fee_sen=250_000)
    first = journal.reverse(KEY, mti="0200", acquirer_id="00000000009", reason="68")
    second = journal.reverse(KEY, mti="0200", acquirer_id="009", reason="68")
    assert (first.found, first.reversed_now, first.fee_refunded_sen) == (True, True, 250_000)
    assert (second.found, second.reversed_now, second.fee_refunded_sen) == (True, False, 0)
    [entry] = list(journal.entries())
    assert entry.fee == "reversed 250000" and "reason 68" in entry.note
    journal.close()


def test_a_reversal_must_name_the_original_exactly(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.record_inquiry(KEY, mti="0200", acquirer_id="009", pan_masked="526422******0010",
                           rrn="633509000123", response_code="55", fee_sen=0)
    other_card = InquiryKey(KEY.terminal_id, KEY.stan, KEY.transmission_time, "another")
    other_time = InquiryKey(KEY.terminal_id, KEY.stan, "1201093001", KEY.pan_hash)
    assert not journal.reverse(other_card, mti="0200", acquirer_id="009", reason="68").found
    assert not journal.reverse(other_time, mti="0200", acquirer_id="009", reason="68").found
    assert not journal.reverse(KEY, mti="0100", acquirer_id="009", reason="68").found
    assert not journal.reverse(KEY, mti="0200", acquirer_id="008", reason="68").found
    assert journal.reverse(KEY, mti="0200", acquirer_id="009", reason="68").reversed_now
    journal.close()


def test_the_first_answer_to_a_key_stands(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    for code, fee in (("00", 250_000), ("94", 0)):  # the original, then its duplicate
        journal.record_inquiry(KEY, mti="0200", acquirer_id="009", pan_masked="m",
                               rrn="r", response_code=code, fee_sen=fee)
    [entry] = list(journal.entries())
    assert (entry.response_code, entry.fee) == ("00", "charged 250000")
    journal.close()


def test_entries_older_than_the_retention_are_forgotten(tmp_path: Path) -> None:
    journal = _journal(tmp_path, days=2)
    journal.record_inquiry(KEY, mti="0200", acquirer_id="009", pan_masked="m", rrn="r",
                           response_code="00", fee_sen=0, now=1_000 * DAY)
    assert journal.prune(now=1_001 * DAY) == 0
    assert journal.prune(now=1_002.5 * DAY) == 1
    assert not journal.reverse(KEY, mti="0200", acquirer_id="009", reason="68").found
    journal.close()
    reopened = _journal(tmp_path)  # what was journaled survives a restart of the switch
    reopened.record_inquiry(KEY, mti="0200", acquirer_id="009", pan_masked="m", rrn="r",
                            response_code="00", fee_sen=0)
    reopened.close()
    again = _journal(tmp_path)
    assert again.reverse(KEY, mti="0200", acquirer_id="009", reason="68").found
    again.close()


def _reversal_of(journal: TransactionJournal, key: InquiryKey, reason: str,
                 now: float | None = None) -> None:
    """A reversal that came before its original (answered 25)."""
    journal.record_reversal(key, mti="0420", stan="000124", original_mti="0200",
                            original_acquirer_id="009", pan_masked="526422******0010",
                            reason=reason, response_code="25", outcome="unknown original",
                            fee_refunded_sen=0, now=now)


def test_a_reversal_before_its_original_is_found_with_the_first_reason(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    assert journal.reversed_before(KEY, mti="0200", acquirer_id="009") is None
    _reversal_of(journal, KEY, "68")
    _reversal_of(journal, KEY, "17")  # a repeat with another reason: the first one stands
    assert journal.reversed_before(KEY, mti="0200", acquirer_id="00000000009") == "68"
    assert journal.reversed_before(KEY, mti="0100", acquirer_id="009") is None
    assert journal.reversed_before(KEY, mti="0200", acquirer_id="008") is None
    other_card = InquiryKey(KEY.terminal_id, KEY.stan, KEY.transmission_time, "another")
    assert journal.reversed_before(other_card, mti="0200", acquirer_id="009") is None
    journal.close()
    reopened = _journal(tmp_path)  # a restarted switch finds it too
    assert reopened.reversed_before(KEY, mti="0200", acquirer_id="009") == "68"
    reopened.close()


def test_a_reversal_another_switch_records_on_the_shared_file_is_found_at_once(
        tmp_path: Path) -> None:
    mine, other = _journal(tmp_path), _journal(tmp_path)  # two switches, one data directory
    assert mine.reversed_before(KEY, mti="0200", acquirer_id="009") is None
    _reversal_of(other, KEY, "68")
    assert mine.reversed_before(KEY, mti="0200", acquirer_id="009") == "68"
    second = InquiryKey(KEY.terminal_id, "000125", KEY.transmission_time, KEY.pan_hash)
    _reversal_of(mine, second, "17")  # and the other way round
    assert other.reversed_before(second, mti="0200", acquirer_id="009") == "17"
    mine.close()
    other.close()


def test_a_pruned_reversal_is_no_longer_found_by_any_switch(tmp_path: Path) -> None:
    mine, other = _journal(tmp_path, days=2), _journal(tmp_path, days=2)
    _reversal_of(mine, KEY, "68", now=1_000 * DAY)
    assert other.reversed_before(KEY, mti="0200", acquirer_id="009") == "68"
    assert mine.prune(now=1_002.5 * DAY) == 1
    assert mine.reversed_before(KEY, mti="0200", acquirer_id="009") is None
    assert other.reversed_before(KEY, mti="0200", acquirer_id="009") is None
    _reversal_of(other, KEY, "17", now=1_002 * DAY)  # a newer one outlives the next prune
    assert other.prune(now=1_003.5 * DAY) == 0
    assert mine.reversed_before(KEY, mti="0200", acquirer_id="009") == "17"
    assert other.reversed_before(KEY, mti="0200", acquirer_id="009") == "17"
    mine.close()
    other.close()


def test_a_journal_from_before_the_field_7_key_is_rebuilt_and_keeps_its_inquiries(
        tmp_path: Path) -> None:
    # A journal file as switches made it until the key led with field 7: terminal first.
    path = tmp_path / "switch-journal.db"
    old = _journal(tmp_path)
    old.record_inquiry(KEY, mti="0200", acquirer_id="009", pan_masked="526422******0010",
                       rrn="633509000123", response_code="00", fee_sen=250_000)
    old.close()
    with sqlite3.connect(path) as db:
        db.executescript("""
            ALTER TABLE inquiries RENAME TO newer;
            DROP INDEX inquiries_answered_at;
            CREATE TABLE inquiries (
                terminal_id TEXT NOT NULL, stan TEXT NOT NULL, transmission_time TEXT NOT NULL,
                pan_hash TEXT NOT NULL, acquirer_id TEXT NOT NULL, mti TEXT NOT NULL,
                pan_masked TEXT NOT NULL, rrn TEXT NOT NULL, response_code TEXT NOT NULL,
                fee_sen INTEGER NOT NULL, answered_at REAL NOT NULL, reversed_at REAL,
                reversal_reason TEXT, PRIMARY KEY (terminal_id, stan, transmission_time, pan_hash));
            CREATE INDEX inquiries_answered_at ON inquiries (answered_at);
            INSERT INTO inquiries SELECT * FROM newer;
            DROP TABLE newer;""")
    assert _key_order(path)[0] == "terminal_id"

    journal = _journal(tmp_path)  # a switch opens it: rebuilt, nothing lost
    assert _key_order(path) == ["transmission_time", "terminal_id", "stan", "pan_hash"]
    [entry] = list(journal.entries())
    assert (entry.stan, entry.response_code, entry.fee) == ("000123", "00", "charged 250000")
    outcome = journal.reverse(KEY, mti="0200", acquirer_id="009", reason="68")
    assert (outcome.reversed_now, outcome.fee_refunded_sen) == (True, 250_000)
    journal.record_inquiry(KEY, mti="0200", acquirer_id="009", pan_masked="m", rrn="r",
                           response_code="94", fee_sen=0)  # the key is still unique
    [entry] = list(journal.entries())  # the first answer stands, no second row
    assert (entry.response_code, entry.fee) == ("00", "reversed 250000")
    journal.close()
    assert _key_order(path)[0] == "transmission_time"  # opening again changes nothing


def _key_order(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        [name] = [row[1] for row in db.execute("PRAGMA index_list(inquiries)")
                  if row[3] == "pk"]
        return [row[2] for row in db.execute(f"PRAGMA index_info('{name}')")]
