"""A stack on its own embedded broker with the components' accounts, and MQTT clients
that log in as one of them: the attackers and witnesses of the bus security tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt

from atmsim.shell.broker_auth import Account, credentials_path, load_credentials
from atmsim.shell.stack import Stack
from tests.conftest import require_broker
from tests.e2e.conftest import stack_settings

BALANCE = "bpjs/jht/v1/balance/req"
# An operator's read-everything account (the credentials file's documented "custom"
# role): the tests' witness of what is on the wire.
WATCHER = {"watcher": {"role": "custom", "read": ["#"]}}


def _protocol(kind: str) -> aiomqtt.ProtocolVersion:
    return (aiomqtt.ProtocolVersion.V311 if kind in ("nats", "amqtt")
            else aiomqtt.ProtocolVersion.V5)


@asynccontextmanager
async def secured_stack(kind: str, data_dir: Path,
                        extra: dict[str, Any] | None = None) -> AsyncIterator[
                            tuple[Stack, dict[str, Account]]]:
    require_broker(kind)
    if extra:
        path = credentials_path(data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"accounts": extra}))
    settings = stack_settings(data_dir, broker_kind=kind)
    async with Stack(settings) as stack:
        accounts = load_credentials(data_dir)
        assert accounts is not None
        yield stack, accounts


def client(stack: Stack, kind: str, account: Account | None, **kwargs: Any) -> aiomqtt.Client:
    assert stack.broker is not None
    return aiomqtt.Client(stack.broker.host, stack.broker.port, protocol=_protocol(kind),
                          username=account.username if account else None,
                          password=account.password if account else None, **kwargs)
