"""The SMS 2757 path on loopback, shared by a test module: the session Mosquitto broker,
a ledger (SQLite file or a PostgreSQL schema of its own, ``sms_...``), the simulated
SMSC and the gateway bound to it; ``phone(msisdn)`` opens a simulated phone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from atmsim.kernel.bus import MqttBus
from atmsim.shell.broker import EmbeddedBroker
from bpjs_ledger.service import run_ledger
from sms_gateway.esme import Esme, EsmeConfig
from sms_gateway.gateway import GatewayConfig, SmsGateway
from smsc_sim.accounts import ensure_accounts
from smsc_sim.handset import Handset
from smsc_sim.server import SmscServer
from tests.conftest import _session_broker
from tests.ledger.conftest import postgres_base_url, postgres_schema

AS_OF = date(2026, 10, 31)
BUDI = {"nik": "3171011505850001", "name": "Budi Santoso", "born": "15-05-1985",
        "kpj": "10012345678"}
SITI = {"nik": "3273024708900002", "name": "Siti Rahayu", "born": "07-08-1990",
        "kpj": "12087654321"}
DEWI = {"nik": "5171026110920004", "name": "Dewi Lestari", "born": "21-10-1992",
        "kpj": "14099900022"}


@dataclass
class Channel:
    broker: EmbeddedBroker
    smsc: SmscServer
    gateway: SmsGateway
    esme: Esme
    handset_password: str
    data_dir: Path

    def phone(self, msisdn: str) -> Handset:
        return Handset("127.0.0.1", self.smsc.port, msisdn, self.handset_password)


@contextlib.asynccontextmanager
async def postgres_sms_schema() -> AsyncIterator[str]:
    """A PostgreSQL schema of the test's own, named ``sms_...``, as a ledger URL."""
    with postgres_schema(postgres_base_url(), prefix="sms") as (url, _):
        yield url


@contextlib.asynccontextmanager
async def sms_channel(broker: EmbeddedBroker, db: Path | str, data_dir: Path, *,
                      per_minute: int = 1000, failures_per_day: int = 1000,
                      concatenation: str = "udh") -> AsyncIterator[Channel]:
    stop, ready = asyncio.Event(), asyncio.Event()
    ledger = asyncio.create_task(run_ledger(db, broker.endpoint_for("ledger"), stop=stop,
                                            ready=ready, demo_as_of=AS_OF))
    await asyncio.wait_for(ready.wait(), 20)
    accounts = ensure_accounts(data_dir)
    try:
        async with SmscServer(accounts, port=0) as smsc, \
                MqttBus(broker.endpoint_for("sms"), "sms-gateway") as bus:
            assert await bus.wait_connected(10)
            gateway = SmsGateway(bus, GatewayConfig(ledger_deadline=3.0,
                                                    per_minute=per_minute,
                                                    failures_per_day=failures_per_day))
            config = EsmeConfig(port=smsc.port, password=accounts["bpjs2757"].password,
                                concatenation=concatenation)
            async with Esme(config, gateway.answer) as esme:
                assert await esme.wait_bound(10)
                yield Channel(broker, smsc, gateway, esme, accounts["handset"].password,
                              data_dir)
    finally:
        stop.set()
        await asyncio.wait_for(ledger, 10)


@pytest.fixture(scope="module")
def mosquitto(broker_factory: dict[str, EmbeddedBroker],
              tmp_path_factory: pytest.TempPathFactory) -> EmbeddedBroker:
    return _session_broker("mosquitto", broker_factory, tmp_path_factory)


Exchange = Callable[[Handset, str], Awaitable[str]]


async def exchange(phone: Handset, text: str, timeout: float = 10.0) -> str:
    """Send ``text`` to 2757 and return the reply."""
    await phone.send(text)
    return (await phone.receive(timeout)).text
