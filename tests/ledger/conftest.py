"""Fixtures for the ledger tests: a ledger file seeded as of a fixed date, a running ledger
service on a real broker, and a separate bus client that asks it for balances."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from atmsim.broker import EmbeddedBroker
from atmsim.bus import MqttBus
from bpjs_ledger.service import BALANCE_REQUEST_TOPIC, run_ledger
from bpjs_ledger.store import LedgerStore

AS_OF = date(2026, 10, 31)

Ask = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def as_of() -> date:
    return AS_OF


@pytest.fixture
def seeded_store(tmp_path: Path) -> Any:
    with LedgerStore(tmp_path / "ledger.db", demo_as_of=AS_OF) as store:
        yield store


@pytest.fixture
def seeded_db(seeded_store: LedgerStore) -> Any:
    """A read-only look at the seeded file, for checking what the store answers."""
    conn = sqlite3.connect(f"file:{seeded_store.path}?mode=ro", uri=True)
    yield conn
    conn.close()


@pytest.fixture
async def ledger_db(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Path]:
    """A ledger served by ``run_ledger`` on the broker; yields its database file."""
    db = tmp_path / "ledger.db"
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(
        run_ledger(db, broker.endpoint, stop=stop, ready=ready, demo_as_of=AS_OF))
    ready_wait = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({service, ready_wait}, timeout=15,
                                 return_when=asyncio.FIRST_COMPLETED)
    if service in done:
        ready_wait.cancel()
        service.result()  # raises what made it stop
    if ready_wait not in done:
        service.cancel()
        ready_wait.cancel()
        pytest.fail("the ledger did not connect to the broker within 15 s")
    yield db
    stop.set()
    await asyncio.wait_for(service, 10)


@pytest.fixture
async def client(broker: EmbeddedBroker) -> AsyncIterator[MqttBus]:
    async with MqttBus(broker.endpoint, "ledger-test-client") as bus:
        assert await bus.wait_connected(10), "test client could not connect"
        yield bus


@pytest.fixture
def ask(client: MqttBus, ledger_db: Path) -> Ask:
    """``await ask(nik, kpj)``: a well-formed balance request from the ATM channel;
    keyword arguments replace or (with value ``...``) remove request fields."""

    async def ask(nik: str | None, kpj: str | None, **fields: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "nik": nik, "kpj": kpj, "channel": "ATM", "terminal_id": "BNI00001",
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        payload.update(fields)
        payload = {k: v for k, v in payload.items() if v is not ...}
        return await client.request(BALANCE_REQUEST_TOPIC, payload, timeout=5)

    return ask
