"""bpjs_ledger: the BPJS Ketenagakerjaan JHT ledger that answers balance inquiries.

Layout, following the data: ``identity`` (KPJ, NIK) -> ``jht`` (contribution and return
arithmetic) -> ``records`` and ``demo`` (participants and their histories) -> ``schema``
and ``store`` (SQLite) -> ``service`` (the MQTT request/reply contract of DESIGN.md).
"""

from bpjs_ledger.service import LedgerService, run_ledger
from bpjs_ledger.store import BalanceAnswer, BalanceResult, LedgerStore

__all__ = ["BalanceAnswer", "BalanceResult", "LedgerService", "LedgerStore", "run_ledger"]
