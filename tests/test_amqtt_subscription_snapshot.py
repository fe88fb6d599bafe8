"""The embedded amqtt broker keeps broadcasting while subscriptions change.

amqtt 0.12 loops over its subscriptions dict and awaits for each subscriber; a client
subscribing or disconnecting meanwhile ended the loop with "dictionary changed size during
iteration" and lost the message (seen in a broker log of this suite); a subscriber taken
out of a topic's list meanwhile (the session monitor clearing a closed session) made the
loop skip the next subscriber of that topic (a ledger request lost in a CI run). atmsim's
amqtt runner makes that dict iterate over copies of its keys and lists; this checks it on
a real amqtt Broker object."""

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


def _broadcast_while_one_leaves(broker) -> list[str]:  # type: ignore[no-untyped-def]
    """Serve the subscribers of one topic while the first of them is cleared away, as
    amqtt's ``_del_subscription`` does (``list.pop`` of its index)."""
    subscribers = [("closed session", 1), ("ledger", 1)]
    broker._subscriptions["bpjs/jht/v1/balance/req"] = subscribers
    served = []
    for _, topic_subscribers in broker._subscriptions.items():
        for session, _qos in topic_subscribers:  # the ACL check of each one awaits here
            served.append(session)
            if session == "closed session":
                subscribers.pop(0)
    return served


async def test_amqtt_alone_skips_the_subscriber_after_one_that_leaves() -> None:
    assert _broadcast_while_one_leaves(_broker()) == ["closed session"]


async def test_the_embedded_broker_serves_every_subscriber_it_had() -> None:
    broker = _broker()
    iterate_subscriptions_on_a_copy(broker)
    assert _broadcast_while_one_leaves(broker) == ["closed session", "ledger"]
    # amqtt's own bookkeeping still changed the real list.
    assert broker._subscriptions["bpjs/jht/v1/balance/req"] == [("ledger", 1)]
