"""bpjs_ledger: the BPJS Ketenagakerjaan JHT ledger that answers balance inquiries.

Layout, following the data: ``identity`` (KPJ, NIK) -> ``jht`` (contribution and return
arithmetic) -> ``records`` and ``demo`` / ``synthetic`` (participants and their
histories) -> ``db`` and ``schema`` (SQLite or PostgreSQL, versioned tables) -> ``store``
(inquiries, statements, postings) and ``seed`` (bulk loading) -> ``messages`` and
``service`` (the MQTT contract of docs/ledger.md).
"""

from bpjs_ledger.answers import BalanceAnswer, BalanceResult
from bpjs_ledger.service import LedgerService, run_ledger
from bpjs_ledger.store import LedgerStore

__all__ = ["BalanceAnswer", "BalanceResult", "LedgerService", "LedgerStore", "run_ledger"]
