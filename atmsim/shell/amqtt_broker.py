"""Runs amqtt as atmsim's pure-Python embedded broker: ``python -m atmsim.shell.amqtt_broker``.

With ``--broker-dir`` (what ``EmbeddedBroker`` passes) it refuses anonymous clients: the
accounts come from ``amqtt.passwd`` (argon2 hashes, amqtt's ``auth_file`` plugin) and the
topic rules from ``amqtt.acl.json`` (its ``topic_acl`` plugin: what each account may
subscribe to, be delivered and publish). amqtt 0.12 takes those lists only through its
older ``auth`` / ``topic-check`` sections, which is why they are used here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import warnings
from pathlib import Path
from typing import Any


def broker_config(host: str, port: int, broker_dir: Path | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "sys_interval": 0,
    }
    if broker_dir is None:
        config["auth"] = {"allow-anonymous": True, "plugins": ["auth_anonymous"]}
        config["topic-check"] = {"enabled": False}
        return config
    acls = json.loads((broker_dir / "amqtt.acl.json").read_text())
    config["auth"] = {"allow-anonymous": False, "plugins": ["auth_file"],
                      "password-file": str(broker_dir / "amqtt.passwd")}
    config["topic-check"] = {"enabled": True, "plugins": ["topic_acl"], **acls}
    return config


class _SnapshotDict(dict):  # type: ignore[type-arg]
    """A dict of subscriber lists whose iteration works on a copy of its keys and lists.

    amqtt 0.12 broadcasts a message by looping over its subscriptions dict, and over each
    topic's list of subscribers, awaiting the ACL check of each one. A client that
    subscribes to a new topic or leaves meanwhile changes what is being looped over:
    a new or deleted topic ends the loop with "dictionary changed size during iteration",
    and a subscriber taken out of a list (the session monitor clearing a closed session,
    each second) shifts the next one into the slot already served, so it is skipped.
    Either way the message is lost for a subscriber still there (an ATM then gets 91).
    Iterating over copies delivers it to the subscriptions that existed when the
    broadcast began; amqtt's own changes still go to the real dict and lists.
    """

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(super().keys()))

    def keys(self):  # type: ignore[no-untyped-def]
        return list(super().keys())

    def items(self):  # type: ignore[no-untyped-def]
        return [(topic, list(subscribers)) for topic, subscribers in super().items()]

    def values(self):  # type: ignore[no-untyped-def]
        return [list(subscribers) for subscribers in super().values()]


def iterate_subscriptions_on_a_copy(broker: Any) -> None:
    """Make an amqtt ``Broker`` safe against subscription changes during a broadcast."""
    broker._subscriptions = _SnapshotDict(broker._subscriptions)


async def _serve(host: str, port: int, broker_dir: Path | None) -> None:
    from amqtt.broker import Broker

    broker = Broker(broker_config(host, port, broker_dir))
    iterate_subscriptions_on_a_copy(broker)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--broker-dir", type=Path,
                        help="where amqtt.passwd and amqtt.acl.json are (default: anonymous)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    # The entry-point plugin loading amqtt 0.12 calls deprecated is the one that takes
    # the subscribe / receive lists; its warnings would fill the log at every start.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    asyncio.run(_serve(args.host, args.port, args.broker_dir))


if __name__ == "__main__":
    main()
