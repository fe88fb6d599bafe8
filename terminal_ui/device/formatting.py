"""Money and dates on the ATM's screens and receipts: the kernel's one formatter."""

from atmsim.kernel.money import format_date, format_rupiah

__all__ = ["format_rupiah", "format_date"]
