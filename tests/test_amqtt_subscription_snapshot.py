"""The embedded amqtt broker keeps broadcasting while subscriptions change.

amqtt 0.12 loops over its subscriptions dict and awaits for each subscriber; a client
subscribing or disconnecting meanwhile ended the loop with "dictionary changed size during
iteration" and lost the message (seen in a broker log of this suite). atmsim's amqtt runner
makes that dict iterate over a copy; this checks it on a real amqtt Broker object."""

from __future__ import annotations

import pytest

from atmsim.shell.amqtt_broker import broker_config, iterate_subscriptions_on_a_copy

# amqtt 0.12 warns about its own configuration style when a Broker is made.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _broker():  # type: ignore[no-untyped-def]  # needs a running event loop
    from amqtt.broker import Broker

    return Broker(broker_config("127.0.0.1", 1883, None))


def _broadcast_while_subscribing(broker) -> list[str]:  # type: ignore[no-untyped-def]
    subscriptions = broker._subscriptions
    subscriptions.update({"a/1": [], "a/2": []})
    served = []
    for topic, _ in subscriptions.items():  # what _run_broadcast does, with an await inside
        served.append(topic)
        subscriptions[f"new/{len(served)}"] = []  # a client subscribes meanwhile
        subscriptions.pop("a/2", None)  # and another one disconnects
    return served


async def test_amqtt_alone_loses_the_broadcast() -> None:
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        _broadcast_while_subscribing(_broker())


async def test_the_embedded_broker_serves_the_subscriptions_it_had() -> None:
    broker = _broker()
    iterate_subscriptions_on_a_copy(broker)
    assert _broadcast_while_subscribing(broker) == ["a/1", "a/2"]
