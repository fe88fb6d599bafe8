"""Fixtures for the ledger tests: a ledger file seeded as of a fixed date, a running ledger
service on a real broker, a separate bus client that asks it for balances, and real
databases of both kinds (a SQLite file; a schema of its own on the test PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from atmsim.kernel.bus import MqttBus
from atmsim.shell.broker import EmbeddedBroker
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


# -- databases: a SQLite file and a real PostgreSQL -----------------------------------

POSTGRES_ENV = "ATMSIM_TEST_POSTGRES_URL"


def postgres_base_url() -> str:
    """The test PostgreSQL (.ci/postgres.sh); skips without one unless
    ATMSIM_REQUIRE_POSTGRES=1, where a missing server fails the run instead."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        if os.environ.get("ATMSIM_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"ATMSIM_REQUIRE_POSTGRES=1 but {POSTGRES_ENV} is not set "
                        "(run .ci/postgres.sh)")
        pytest.skip(f"no PostgreSQL: set {POSTGRES_ENV} (see .ci/postgres.sh)")
    return url


def with_query(url: str, **params: str) -> str:
    separator = "&" if "?" in url else "?"
    return url + separator + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


@contextmanager
def postgres_schema(base_url: str, prefix: str = "t") -> Iterator[tuple[str, str]]:
    """A fresh schema for one test: the URL that works in it (search_path and an
    application_name of its own, so the test can find its own connections) and the name,
    ``<prefix>_`` and 12 hex digits."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield with_query(base_url, options=f"-csearch_path={name}",
                         application_name=f"atmsim-{name}"), name
    finally:
        with psycopg.connect(base_url, autocommit=True) as admin:
            # Connections a test left behind (a killed worker's) must not block the drop.
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = %s", (f"atmsim-{name}",))
            admin.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty PostgreSQL schema of this test's own, as a ledger URL."""
    with postgres_schema(postgres_base_url()) as (url, _):
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """An empty ledger database of each kind: a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield tmp_path / "ledger.db"
        return
    with postgres_schema(postgres_base_url()) as (url, _):
        yield url


@pytest.fixture
def demo_store(db_target: Path | str) -> Iterator[LedgerStore]:
    """The demo ledger as of AS_OF on each kind of database."""
    with LedgerStore(db_target, demo_as_of=AS_OF) as store:
        yield store


POSTING_DAY = date(2026, 11, 12)  # the ledger's "today" in posting tests: after AS_OF
