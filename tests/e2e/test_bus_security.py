"""The MQTT bus is not open to whoever reaches the broker (docs/security.md "The MQTT bus").

Each test runs a whole stack on its own embedded broker (Mosquitto and amqtt), with the
components' own accounts, and plays the attacker with real MQTT clients: anonymous, with
the monitor's account, and as an insider with the switch's account.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from atm_switch import ledger_link
from atmsim.kernel.mqtt import MqttRefused, connect
from atmsim.shell.broker_auth import credentials_path
from tests.e2e.atm import card, inquire, link_to
from tests.e2e.secured import BALANCE, WATCHER, client, secured_stack

KINDS = pytest.mark.parametrize("kind", ["mosquitto", "nats", "amqtt"])


@KINDS
async def test_anonymous_and_wrong_password_clients_are_refused(kind: str,
                                                                data_dir: Path) -> None:
    async with secured_stack(kind, data_dir) as (stack, accounts):
        assert stack.broker is not None
        for username, password in [(None, None), ("monitor", "not-the-password"),
                                   ("nobody", "x")]:
            with pytest.raises(MqttRefused) as refused:
                await connect(stack.broker.host, stack.broker.port, client_id="intruder",
                              protocol="3.1.1" if kind in ("nats", "amqtt") else "5",
                              on_message=lambda m: None, username=username,
                              password=password)
            assert refused.value.not_authorized
        # The file that holds the passwords is the owner's alone.
        mode = stat.S_IMODE(os.stat(credentials_path(data_dir)).st_mode)
        assert mode == 0o600
        assert set(accounts) >= {"switch", "ledger", "monitor"}


@KINDS
async def test_a_monitor_sees_only_events_and_cannot_ask_or_forge(kind: str,
                                                                  data_dir: Path) -> None:
    async with secured_stack(kind, data_dir) as (stack, accounts), link_to(stack) as link:
        monitor = accounts["monitor"]
        seen: list[str] = []
        async with client(stack, kind, monitor) as spy:
            for topic_filter in ["#", "bpjs/jht/v1/#", "atmsim/v1/reply/#",
                                 "atmsim/v1/events/#"]:
                await spy.subscribe(topic_filter, qos=1)

            async def listen() -> None:
                async for message in spy.messages:
                    seen.append(str(message.topic))

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0.3)
            # It cannot ask the ledger either: a request on its own reply prefix gets
            # nothing back.
            await spy.publish(BALANCE, json.dumps({
                "id": "spy-1", "reply_to": "atmsim/v1/reply/monitor/spy", "nik":
                "3174012345678901", "kpj": None, "channel": "ATM", "terminal_id": "BNI00001"}),
                qos=1)
            # Nor answer for the ledger: forged approvals with the ids the switch will use.
            reply_prefix = "atmsim/v1/reply/switch/"
            assert stack._switch_bus is not None
            forged_topic = stack._switch_bus.reply_topic
            assert forged_topic.startswith(reply_prefix)
            next_ids = [f"{ledger_link._ID_PREFIX}-{n}" for n in range(1, 2000)]
            for request_id in next_ids[:400]:
                await spy.publish(forged_topic, json.dumps({
                    "id": request_id, "result": "OK", "kpj": "10012345678", "name": "FORGED",
                    "status": "AKTIF", "balance_sen": 99_999_999_900, "as_of": "2026-10-31",
                    "currency": "IDR"}), qos=1)
            _, result = await inquire(link, card("Budi"))
            await asyncio.sleep(1.0)
            listener.cancel()
        assert result.response_code == "00"
        assert result.balance_sen != 99_999_999_900 and result.masked_name != "FORGED"
        assert seen, "the monitor saw not even the event of the inquiry"
        assert all(topic.startswith("atmsim/v1/events/") for topic in seen), seen


@KINDS
async def test_hostile_reply_to_gets_no_publish_and_the_ledger_stays(kind: str,
                                                                     data_dir: Path) -> None:
    async with secured_stack(kind, data_dir, WATCHER) as (stack, accounts), \
            link_to(stack) as link:
        on_wire: list[tuple[str, bytes]] = []
        async with client(stack, kind, accounts["watcher"]) as watcher, \
                client(stack, kind, accounts["switch"]) as insider:
            await watcher.subscribe("#", qos=1)

            async def listen() -> None:
                async for message in watcher.messages:
                    on_wire.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0.3)
            hostile = ["#", "a/+/b", "atmsim/v1/reply/switch/#", "atmsim/v1/reply/x\x00y",
                       "atmsim/v1/reply/" + "x" * 250, "atmsim/v1/events/tx",
                       "atmsim/v1/reply//x", "atmsim/v1/reply/", "", 42]
            for number, reply_to in enumerate(hostile):
                await insider.publish(BALANCE, json.dumps({
                    "id": f"hostile-{number}", "reply_to": reply_to, "nik": "3174012345678901",
                    "kpj": None, "channel": "ATM", "terminal_id": "BNI00001"}), qos=1)
            await asyncio.sleep(1.5)
            # Whatever is on the wire besides our requests came from the ledger: nothing.
            answers = [(t, p) for t, p in on_wire if t != BALANCE]
            assert answers == []
            _, result = await inquire(link, card("Budi"))
            listener.cancel()
        assert result.response_code == "00"


async def test_a_reply_with_the_right_id_but_other_correlation_data_is_ignored(
        mosquitto_broker: Any) -> None:
    from atmsim.kernel.bus import MqttBus

    endpoint = mosquitto_broker.endpoint  # the test account: it may also play the impostor
    async with MqttBus(endpoint, "asker") as asker, aiomqtt.Client(
            endpoint.host, endpoint.port, username=endpoint.username,
            password=endpoint.password, protocol=aiomqtt.ProtocolVersion.V5) as impostor:
        assert await asker.wait_connected(10)
        await impostor.subscribe("test/v1/correlated", qos=1)
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        async def answer_twice() -> None:
            message = await anext(impostor.messages)
            body = json.loads(message.payload)  # type: ignore[arg-type]
            for correlation, verdict in [(b"someone-else", "FORGED"), (None, "REAL")]:
                props = Properties(PacketTypes.PUBLISH)
                props.CorrelationData = correlation or message.properties.CorrelationData  # type: ignore[union-attr]
                await impostor.publish(body["reply_to"], json.dumps(
                    {"id": body["id"], "result": verdict}), qos=1, properties=props)

        task = asyncio.create_task(answer_twice())
        await asyncio.sleep(0.2)
        reply = await asker.request("test/v1/correlated", {"x": 1}, timeout=5)
        await task
    assert reply["result"] == "REAL"


@KINDS
async def test_credentials_never_reach_a_log(kind: str, data_dir: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    async with secured_stack(kind, data_dir) as (stack, accounts), link_to(stack) as link:
        _, result = await inquire(link, card("Budi"))
        assert result.response_code == "00"
        shown = str(stack.addresses())
    assert result.response_code == "00"
    broker_out = (data_dir / "broker" / "broker.out").read_text(errors="replace")
    for account in accounts.values():
        assert account.password not in caplog.text
        assert account.password not in broker_out
        assert account.password not in shown
    assert "mqtt://127.0.0.1:" in shown


@KINDS
async def test_a_new_channel_account_asks_for_balances_but_posts_nothing(
        kind: str, data_dir: Path) -> None:
    from atmsim.kernel.bus import BusTimeout, MqttBus
    from atmsim.kernel.demo_data import DEMO_PARTICIPANTS

    async with secured_stack(kind, data_dir, {"portal": {"role": "channel"}}) as (
            stack, accounts):
        assert stack.broker is not None
        portal = accounts["portal"]
        endpoint = dataclasses.replace(stack.broker.address, username=portal.username,
                                       password=portal.password)
        budi = DEMO_PARTICIPANTS[0]
        async with MqttBus(endpoint, "portal") as bus:
            await bus.established(5)
            assert bus.reply_topic.startswith("atmsim/v1/reply/portal/")
            reply = await bus.request(BALANCE, {"nik": budi.nik, "kpj": budi.kpj,
                                                "channel": "PORTAL", "terminal_id": "WEB00001",
                                                "requested_at": "2026-11-02T09:00:00+07:00"},
                                      timeout=5)
            assert reply["result"] == "OK" and reply["kpj"] == budi.kpj
            with pytest.raises(BusTimeout):  # the broker never passes it to the ledger
                await bus.request("bpjs/jht/v1/contribution/post", {"key": "k"}, timeout=1.5)
