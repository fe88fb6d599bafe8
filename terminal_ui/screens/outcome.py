"""Waiting for the host, the balance, the decline screens, the receipt, "another one?".

The questions here are screens with an answer (``Screen[T]``): the result screen is
dismissed with "receipt?" yes or no, "another transaction?" with yes or no, a decline
screen and the receipt when read. The app decides what follows (``terminal_ui/flow.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import LoadingIndicator, Static

from atmsim.kernel.response_codes import ResponseCode
from terminal_ui.device.formatting import format_date, format_rupiah
from terminal_ui.device.i18n import STRINGS, t
from terminal_ui.device.receipt import receipt_text, save_receipt
from terminal_ui.device.transactions import InquiryResult
from terminal_ui.flow import Failure, State
from terminal_ui.screens.base import AtmScreen
from terminal_ui.screens.messages import ReceiptSaved
from terminal_ui.widgets.side_key import NO_KEY, YES_KEY

__all__ = ["ProcessingScreen", "ResultScreen", "DeclineScreen", "ReceiptScreen",
           "AnotherTransactionScreen", "decline_texts"]

# Yes and no where every question has them: YA bottom right (I, Enter), TIDAK bottom left
# (D, Escape). The footer words are the screen's own.
_YES = f"{YES_KEY.lower()},enter"
_NO = f"{NO_KEY.lower()},escape"


class ProcessingScreen(AtmScreen[None]):
    """Shown while the 0200 is out; keys do nothing (as on a real ATM)."""

    state = State.PROCESSING
    waits_for_customer = False

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("processing"), classes="title")
        yield LoadingIndicator()
        yield Static(self.tr("processing_wait"), classes="note")


class ResultScreen(AtmScreen[bool]):
    """The balance, and the question "do you need a receipt?": dismissed with the answer."""

    state = State.RESULT
    footer_app_keys = ("toggle_wire",)
    BINDINGS = [
        Binding(_YES, "answer(True)", "key_print_receipt", key_display="I/Enter"),
        Binding(_NO, "answer(False)", "key_no_receipt", key_display="D/Esc"),
    ]

    def __init__(self, result: InquiryResult) -> None:
        super().__init__()
        self.result = result

    def side_labels(self) -> dict[str, str]:
        return {YES_KEY: self.tr("print_receipt"), NO_KEY: self.tr("no_receipt")}


    def body(self) -> Iterable[Widget]:
        r = self.result
        as_of = format_date(r.as_of, self.language) if r.as_of else "-"
        rows = [(self.tr("kpj_no"), r.kpj or "-"), (self.tr("name"), r.masked_name or "-"),
                (self.tr("status"), r.status or "-")]
        if r.segment:
            rows.append((self.tr("segment"), r.segment))
        rows.append((self.tr("as_of"), as_of))
        width = max(len(label) for label, _ in rows)
        yield Static(self.tr("jht_title"), classes="title")
        yield Static("\n".join(f"{label:<{width}} : {value}" for label, value in rows),
                     id="result-details", classes="line")
        if r.balance_sen is None:  # never reached: an approval without 54 is an error
            raise ValueError("a result screen needs a balance")
        balance = format_rupiah(r.balance_sen, self.language)
        yield Static(f"{self.tr('jht_balance')}\n[b]{balance}[/b]", id="result-balance",
                     classes="big")
        yield Static(self.tr("receipt_question"), classes="note")


def decline_texts(reason: str, language: str, *, linked_kpj: bool = False) -> tuple[str, str]:
    """Headline and help line for a decline: a response code or a ``flow.Failure``.

    ``linked_kpj``: the inquiry was for the KPJ linked to the card (none typed), so a 25
    means the cardholder is no participant, not that a typed number is wrong.
    """
    if reason == Failure.TIMEOUT:
        # The ATM reverses what it sent (an 0420): for the customer it did not happen.
        return t("cancelled", language), t("timeout", language)
    if reason == Failure.LOST:
        return t("connection_lost", language), t("rc_91_help", language)
    if reason == Failure.NO_BALANCE:
        return t("no_balance", language), t("no_balance_help", language)
    if reason == ResponseCode.PARTICIPANT_NOT_FOUND and linked_kpj:
        return t("rc_25_linked", language), t("rc_25_linked_help", language)
    headline_key = f"rc_{reason}"
    if headline_key not in STRINGS:
        return t("rc_other", language, code=reason), ""
    help_key = f"rc_{reason}_help"
    if reason == ResponseCode.INTERNAL_ERROR:
        help_key = "rc_91_help"  # the same advice as for 91: try again later
    return t(headline_key, language), t(help_key, language) if help_key in STRINGS else ""


class DeclineScreen(AtmScreen[None]):
    """One clear screen per response code; dismissed on "continue"."""

    state = State.DECLINE
    BINDINGS = [Binding(_YES, "answer(None)", "key_continue", key_display="I/Enter")]

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def side_labels(self) -> dict[str, str]:
        return {YES_KEY: self.tr("continue")}


    def body(self) -> Iterable[Widget]:
        session = self.atm.session
        linked = session is not None and session.kpj is None
        headline, help_text = decline_texts(self.reason, self.language, linked_kpj=linked)
        yield Static(f"[b]{headline}[/b]", id="decline-headline", classes="big warning")
        if self.reason == ResponseCode.WRONG_PIN and session:
            help_text = self.tr("tries_left", n=session.tries_left)
        if help_text:
            yield Static(help_text, id="decline-help", classes="note")


class ReceiptScreen(AtmScreen[None]):
    """The printed receipt; A saves it to a file. Dismissed on "continue"."""

    state = State.RECEIPT
    BINDINGS = [
        Binding("a", "save", "key_save_receipt", key_display="A"),
        Binding(_YES, "answer(None)", "key_continue", key_display="I/Enter"),
    ]

    def side_labels(self) -> dict[str, str]:
        return {"A": self.tr("save_receipt"), YES_KEY: self.tr("continue")}


    def _text(self) -> str:
        session = self.atm.session
        if session is None or session.receipt is None:
            return ""
        return receipt_text(session.receipt, self.language)

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("receipt"), id="receipt-title", classes="title")
        yield Static(self._text().replace("[", r"\["), id="receipt-text", classes="receipt")

    def action_save(self) -> None:
        session = self.atm.session
        if session is None or session.receipt is None:
            return
        path = save_receipt(self._text(), self.atm.config.receipts_dir, session.receipt)
        # The receipt fills an 80x24 display: the title line carries the confirmation.
        self.query_one("#receipt-title", Static).update(f"{self.tr('receipt')} ✔")
        self.notify(self.tr("saved_to", path=path), timeout=6)
        self.post_message(ReceiptSaved(path))


class AnotherTransactionScreen(AtmScreen[bool]):
    """"Another transaction?": dismissed with the answer."""

    state = State.ANOTHER_TRANSACTION
    BINDINGS = [
        Binding(_YES, "answer(True)", "yes", key_display="I/Enter"),
        Binding(_NO, "answer(False)", "no", key_display="D/Esc"),
    ]

    def side_labels(self) -> dict[str, str]:
        return {YES_KEY: self.tr("yes"), NO_KEY: self.tr("no")}


    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("another"), classes="big")
