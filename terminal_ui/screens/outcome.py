"""Waiting for the host, the balance, the decline screens, the receipt, "another one?"."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import LoadingIndicator, Static

from terminal_ui.device.formatting import format_date, format_rupiah
from terminal_ui.device.receipt import receipt_text, save_receipt
from terminal_ui.device.transactions import InquiryResult
from terminal_ui.screens.base import AtmScreen, SideKeys
from terminal_ui.widgets.side_key import NO_KEY, YES_KEY

__all__ = ["ProcessingScreen", "ResultScreen", "DeclineScreen", "ReceiptScreen",
           "AnotherTransactionScreen", "decline_texts"]


class ProcessingScreen(AtmScreen):
    """Shown while the 0200 is out; keys do nothing (as on a real ATM)."""

    waits_for_customer = False
    hint_key = "hint_none"

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("processing"), classes="title")
        yield LoadingIndicator()
        yield Static(self.tr("processing_wait"), classes="note")


class ResultScreen(AtmScreen):
    """The balance, and the question "do you need a receipt?" (yes: I / Enter)."""

    hint_key = "hint_result"

    def __init__(self, result: InquiryResult) -> None:
        super().__init__()
        self.result = result

    def side_keys(self) -> SideKeys:
        return {YES_KEY: (self.tr("print_receipt"), self._receipt),
                NO_KEY: (self.tr("no_receipt"), self._no_receipt)}

    def _receipt(self) -> None:
        self.atm.switch_screen(ReceiptScreen())

    def _no_receipt(self) -> None:
        self.atm.switch_screen(AnotherTransactionScreen())

    enter = _receipt
    escape = _no_receipt

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


def decline_texts(code: str, language: str, *, linked_kpj: bool = False) -> tuple[str, str]:
    """Headline and help line for a response code (or "timeout", "lost", "no_balance").

    ``linked_kpj``: the inquiry was for the KPJ linked to the card (none typed), so a 25
    means the cardholder is no participant, not that a typed number is wrong.
    """
    from terminal_ui.device.i18n import STRINGS, t

    if code == "timeout":
        return t("timeout", language), t("rc_91_help", language)
    if code == "lost":
        return t("connection_lost", language), t("rc_91_help", language)
    if code == "no_balance":
        return t("no_balance", language), t("no_balance_help", language)
    if code == "25" and linked_kpj:
        return t("rc_25_linked", language), t("rc_25_linked_help", language)
    headline_key = f"rc_{code}"
    if headline_key not in STRINGS:
        return t("rc_other", language, code=code), ""
    help_key = f"rc_{code}_help"
    if code == "96":
        help_key = "rc_91_help"
    return t(headline_key, language), t(help_key, language) if help_key in STRINGS else ""


class DeclineScreen(AtmScreen):
    """One clear screen per response code; then on to whatever ``after`` says."""

    hint_key = "hint_continue"

    def __init__(self, code: str, after: object) -> None:
        super().__init__()
        self.code = code
        self.after = after  # a callable run on "continue"

    def side_keys(self) -> SideKeys:
        return {"I": (self.tr("continue"), self._continue)}

    def _continue(self) -> None:
        self.after()  # type: ignore[operator]

    def body(self) -> Iterable[Widget]:
        session = self.atm.session
        linked = session is not None and session.kpj is None
        headline, help_text = decline_texts(self.code, self.language, linked_kpj=linked)
        yield Static(f"[b]{headline}[/b]", id="decline-headline", classes="big warning")
        if self.code == "55" and self.atm.session:
            help_text = self.tr("tries_left", n=self.atm.session.tries_left)
        if help_text:
            yield Static(help_text, id="decline-help", classes="note")

    def customer_key(self, key: str, character: str | None) -> bool:
        if key == "enter":
            self._continue()
            return True
        return False


class ReceiptScreen(AtmScreen):
    hint_key = "hint_receipt"

    def side_keys(self) -> SideKeys:
        return {"A": (self.tr("save_receipt"), self._save),
                "I": (self.tr("continue"), self._continue)}

    def _continue(self) -> None:
        self.atm.switch_screen(AnotherTransactionScreen())

    enter = _continue

    def _text(self) -> str:
        session = self.atm.session
        if session is None or session.receipt is None:
            return ""
        return receipt_text(session.receipt, self.language)

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("receipt"), id="receipt-title", classes="title")
        yield Static(self._text().replace("[", r"\["), id="receipt-text", classes="receipt")

    def _save(self) -> None:
        session = self.atm.session
        if session is None or session.receipt is None:
            return
        path = save_receipt(self._text(), self.atm.config.receipts_dir, session.receipt)
        self.atm.last_receipt_path = path
        # The receipt fills an 80x24 display: the title line carries the confirmation.
        self.query_one("#receipt-title", Static).update(f"{self.tr('receipt')} ✔")
        self.notify(self.tr("saved_to", path=path), timeout=6)


class AnotherTransactionScreen(AtmScreen):
    hint_key = "hint_yes_no"

    def side_keys(self) -> SideKeys:
        return {YES_KEY: (self.tr("yes"), self._yes), NO_KEY: (self.tr("no"), self._no)}

    def _yes(self) -> None:
        from terminal_ui.screens.menus import MainMenuScreen

        self.atm.switch_screen(MainMenuScreen())

    def _no(self) -> None:
        self.atm.end_session()

    enter = _yes
    escape = _no

    def body(self) -> Iterable[Widget]:
        yield Static(self.tr("another"), classes="big")
