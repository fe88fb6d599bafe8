"""``MqttBus.close`` ends the bus whatever the connection is doing at that moment.

Closing a bus just as its connection is being set up once left the connection task
running for good (Python 3.11's ``wait_for`` dropped the cancellation when the CONNACK
arrived in the same loop round), and ``atmsim up`` hung after a start failure.
"""

from __future__ import annotations

import asyncio

from atmsim.kernel.bus import MqttBus
from atmsim.shell.broker import EmbeddedBroker

ROUNDS = 60


async def test_close_while_connecting_always_ends(broker: EmbeddedBroker) -> None:
    endpoint = broker.endpoint
    for number in range(ROUNDS):
        bus = MqttBus(endpoint, f"close-race-{number}")
        await bus.__aenter__()
        # Spread the close over the connect: before, during and after the CONNACK.
        for _ in range(number % 12):
            await asyncio.sleep(0)
        await asyncio.sleep((number // 12) * 0.0005)
        # Not asyncio.timeout: a close that swallows cancellation would swallow that too.
        closing = asyncio.create_task(bus.close())
        done, _ = await asyncio.wait([closing], timeout=3)
        assert closing in done, f"close {number} still waiting after 3 s"
        closing.result()
        assert not bus.connected
    leftovers = [task for task in asyncio.all_tasks()
                 if task.get_name().startswith("mqtt-atmsim-close-race")]
    assert leftovers == []
