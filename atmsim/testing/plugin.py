"""The atmsim pytest plugin: fixtures for a test suite that talks to a real atmsim stack.

Installed with atmsim (entry point ``pytest11``), so every pytest run where atmsim is
installed loads this module: it imports nothing but pytest (and pytest-asyncio, when
installed) until a fixture is used, and has no autouse fixture. Fixtures (docs/testing.md):

* ``atmsim_stack`` - broker, HSM, ledger and switch on free loopback ports with a fresh
  data directory (the demo data), started in a thread of its own so sync and async tests
  alike can use it; torn down after the test. When the test also asks for ``faults``, the
  parts are wired through the drill's fault proxies.
* ``atm`` - an :class:`atmsim.AtmClient` signed on to that stack's switch, one per test
  (async: needs pytest-asyncio): ``await atm.inquire(pan, pin, kpj=None)``.
* ``hsm`` - an async Thales host-command client: ``await hsm.command("NC")``.
* ``ledger`` - the seeded ledger over its MQTT contract: ``await ledger.balance(nik)``.
* ``mock_issuer`` - ``mock_issuer(rules, hsm=..., ledger=...)`` makes the stack answer by
  rules (docs/rules.md) from the next request on, and returns the stack.
* ``faults`` - delays, drops, partitions and kills on the stack's hops and parts, by hand
  or by a fault schedule (docs/faults.md).

A fixture of the same name in a suite's own conftest.py takes precedence over these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from atmsim.testing.harness import (
        AtmClient,
        Faults,
        HsmClient,
        LedgerClient,
        Rules,
        RunningStack,
    )

try:
    import pytest_asyncio
except ImportError:  # a suite without async tests: every fixture but ``atm`` works
    pytest_asyncio = None  # type: ignore[assignment]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "atmsim(**sections): settings for the atmsim_stack fixture's stack, by "
        "section, e.g. @pytest.mark.atmsim(switch={'hsm_deadline': 1.0})")


@pytest.fixture
def atmsim_stack(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The whole atmsim back end on free loopback ports, fresh data directory; settings
    from the test's ``@pytest.mark.atmsim(section={...})``."""
    from atmsim.testing.harness import RunningStack

    marker = request.node.get_closest_marker("atmsim")
    # Proxies only for a test that puts faults on the hops: every other test talks to
    # the parts directly, as fast as it can.
    stack = RunningStack.start(tmp_path_factory.mktemp("atmsim"),
                               faults="faults" in request.fixturenames,
                               settings=marker.kwargs if marker else None)
    try:
        yield stack
    finally:
        stack.stop()


async def _signed_on_atm(atmsim_stack: RunningStack) -> AsyncIterator[AtmClient]:
    """An ATM (terminal BNI00001) signed on to ``atmsim_stack``'s switch."""
    async with atmsim_stack.atm() as client:
        yield client


if pytest_asyncio is not None:
    atm = pytest_asyncio.fixture(_signed_on_atm, name="atm", loop_scope="function")
else:
    @pytest.fixture(name="atm")
    def _atm_needs_pytest_asyncio() -> None:
        pytest.fail("the atm fixture is async: install pytest-asyncio")


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


@pytest.fixture
def mock_issuer(atmsim_stack: RunningStack) -> Callable[..., RunningStack]:
    """``mock_issuer(rules=None, *, hsm=None, ledger=None)``: the stack's switch (and HSM,
    ledger) answer by these rules (YAML text, a list of rules, or a Path to a file) from
    the next request on; returns the stack. Called again, it replaces them."""

    def serve_by(rules: Rules | None = None, *, hsm: Rules | None = None,
                 ledger: Rules | None = None) -> RunningStack:
        atmsim_stack.clear_rules()
        given: dict[str, Any] = {"switch": rules, "hsm": hsm, "ledger": ledger}
        for part, part_rules in given.items():
            if part_rules is not None:
                atmsim_stack.set_rules(part_rules, part)
        return atmsim_stack

    return serve_by


@pytest.fixture
def faults(atmsim_stack: RunningStack) -> Faults:
    """Faults on ``atmsim_stack``'s hops and parts: ``faults.partition("switch-hsm")``,
    ``.delay(hop, s)``, ``.drop(hop)``, ``.kill("hsm")`` (each ``.end()`` or a ``with``),
    ``faults.run(schedule, seed)``."""
    assert atmsim_stack.faults is not None  # atmsim_stack saw this fixture asked for
    return atmsim_stack.faults
