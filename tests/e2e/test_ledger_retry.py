"""A ledger worker that takes requests and dies before answering them: the switch asks
again with the same id within its deadline, and the surviving worker answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from atmsim.kernel.bus import MqttBus
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.stack import Stack
from tests.conftest import stack_settings
from tests.e2e.atm import card, inquire, link_to


async def test_requests_lost_in_a_silent_worker_are_answered_by_another(
        mosquitto_broker: EmbeddedBroker, data_dir: Path) -> None:
    settings = stack_settings(data_dir, mosquitto_broker.endpoint.secret_url)
    settings.mqtt.protocol = "5"
    taken: list[str] = []
    async with Stack(settings) as stack:
        doomed = MqttBus(mosquitto_broker.endpoint, "doomed")
        await doomed.__aenter__()

        async def take_and_die(body: dict[str, object]) -> None:
            taken.append(str(body.get("id")))
            if len(taken) == 1:
                asyncio.get_running_loop().call_later(0.1, asyncio.ensure_future,
                                                      doomed.close())
            await asyncio.sleep(3600)  # never answers

        doomed.serve("bpjs/jht/v1/balance/req", take_and_die, shared_group="bpjs-ledger")
        assert await doomed.wait_connected(10)
        await asyncio.sleep(0.3)  # the doomed worker's share is in place
        try:
            async with link_to(stack) as link:
                results = await asyncio.gather(*(inquire(link, card("Budi"))
                                                  for _ in range(12)))
        finally:
            await doomed.close()
    assert [r.response_code for _, r in results] == ["00"] * 12
    assert taken, "the shared subscription gave the doomed worker none of the requests"
