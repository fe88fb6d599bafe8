"""Fixtures: a real HsmServer on a free loopback port, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hsm_helpers import RawHsm

from atm_switch.hsm_link import HsmLink
from hsm_mock import HsmServer


@pytest.fixture
async def hsm() -> AsyncIterator[HsmServer]:
    server = HsmServer(port=0)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def raw(hsm: HsmServer) -> AsyncIterator[RawHsm]:
    client = await RawHsm.connect(hsm.port)
    yield client
    await client.close()


@pytest.fixture
async def link(hsm: HsmServer) -> AsyncIterator[HsmLink]:
    client = HsmLink("127.0.0.1", hsm.port, deadline=2.0)
    yield client
    await client.close()
