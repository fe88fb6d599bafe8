"""The transaction journal on its own: what a reversal finds, once, and for how long."""

from __future__ import annotations

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
