"""The balance-inquiry receipt as the ATM prints it (and saves it as a text file)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from terminal_ui.device.clock import zone_label
from terminal_ui.device.formatting import format_date, format_rupiah
from terminal_ui.device.i18n import t
from terminal_ui.device.session import ReceiptData

__all__ = ["receipt_text", "save_receipt", "RECEIPT_WIDTH"]

RECEIPT_WIDTH = 32


def _row(left: str, right: str) -> str:
    return f"{left}{right:>{RECEIPT_WIDTH - len(left)}}"


def _time(at: datetime) -> str:
    """The time of the 0200 (its fields 12/13), with the terminal's zone: ``09:30:00 WIB``."""
    return f"{at:%H:%M:%S} {zone_label(at)}" if at.tzinfo else f"{at:%H:%M:%S}"


def receipt_text(data: ReceiptData, language: str = "id") -> str:
    """A 32-column receipt; the PAN masked, the name as the bank sent it (masked)."""
    r = data.result
    balance = format_rupiah(r.balance_sen, language) if r.balance_sen is not None else "-"
    lines = [
        "BNI".center(RECEIPT_WIDTH),
        "BNI ATM KCP SUDIRMAN".center(RECEIPT_WIDTH),
        "JAKARTA".center(RECEIPT_WIDTH),
        "-" * RECEIPT_WIDTH,
        _row(data.at.strftime("%d/%m/%Y"), _time(data.at)),
        _row("TERMINAL", data.terminal_id),
        _row("STAN", data.stan),
        _row("REF", data.rrn),
        _row("KARTU" if language == "id" else "CARD", data.masked_pan),
        "-" * RECEIPT_WIDTH,
        t("jht_title", language).center(RECEIPT_WIDTH),
        _row(t("kpj_no", language).upper(), r.kpj or "-"),
        _row(t("name", language).upper(), r.masked_name or "-"),
        _row(t("status", language).upper(), r.status or "-"),
        _row(t("as_of", language).upper(), format_date(r.as_of) if r.as_of else "-"),
        t("jht_balance", language).upper(),
        f"{balance:>{RECEIPT_WIDTH}}",
        "-" * RECEIPT_WIDTH,
        t("thank_you", language).upper().center(RECEIPT_WIDTH),
        "BNI Call 1500046".center(RECEIPT_WIDTH),
    ]
    return "\n".join(lines) + "\n"


def save_receipt(text: str, directory: Path, data: ReceiptData) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"receipt-{data.terminal_id}-{data.at:%Y%m%d-%H%M%S}-{data.stan}.txt"
    path.write_text(text, encoding="utf-8")
    return path
