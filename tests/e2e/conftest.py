"""A whole stack per test: the fixtures live in tests/conftest.py, shared with the ATM tests."""

from tests.conftest import HSM_DEADLINE, LEDGER_DEADLINE, stack_settings

__all__ = ["HSM_DEADLINE", "LEDGER_DEADLINE", "stack_settings"]
