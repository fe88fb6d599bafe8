"""The atmsim pytest plugin: fixtures for a test suite that talks to a real atmsim stack.

Installed with atmsim (entry point ``pytest11``), so every pytest run where atmsim is
installed loads this module: it imports nothing but pytest until a fixture is used, and
has no autouse fixture. Fixtures (docs/testing.md):

* ``atmsim_stack`` - broker, HSM, ledger and switch on free loopback ports with a fresh
  data directory (the demo data), started in a thread of its own so sync and async tests
  alike can use it; torn down after the test.
* ``atm`` - an async ATM client on that stack: ``await atm.inquire(pan, pin, kpj=None)``.
* ``hsm`` - an async Thales host-command client: ``await hsm.command("NC")``.
* ``ledger`` - the seeded ledger over its MQTT contract: ``await ledger.balance(nik)``.

A fixture of the same name in a suite's own conftest.py takes precedence over these.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from atmsim.testing.harness import AtmClient, HsmClient, LedgerClient, RunningStack


@pytest.fixture
def atmsim_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The whole atmsim back end on free loopback ports, fresh data directory."""
    from atmsim.testing.harness import RunningStack

    stack = RunningStack.start(tmp_path_factory.mktemp("atmsim"))
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def atm(atmsim_stack: RunningStack) -> AtmClient:
    """An async ATM (terminal BNI00001) on ``atmsim_stack``."""
    from atmsim.testing.harness import AtmClient

    return AtmClient(*atmsim_stack.switch_address)


@pytest.fixture
def hsm(atmsim_stack: RunningStack) -> HsmClient:
    """An async client of ``atmsim_stack``'s HSM (Thales host commands)."""
    from atmsim.testing.harness import HsmClient

    return HsmClient(*atmsim_stack.hsm_address)


@pytest.fixture
def ledger(atmsim_stack: RunningStack) -> LedgerClient:
    """``atmsim_stack``'s ledger, seeded with the demo participants, over MQTT."""
    from atmsim.testing.harness import LedgerClient

    return LedgerClient(atmsim_stack.switch_endpoint)
