"""Ledger workers as separate processes on Mosquitto, killed with SIGKILL mid-stream.

* Two workers share the requests through the shared subscription; one dies; every
  request still gets its answer, because the requester re-publishes the same id when no
  answer comes in time (what the switch does within its deadline), and a worker answers
  each publish once.
* A worker dies while contributions are being posted: every post it acknowledged is in
  the ledger, and once everything unacknowledged is sent again (same keys) to a new
  worker, every post is in the ledger exactly once.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atmsim.kernel.bus import MqttBus
from atmsim.kernel.demo_data import DEMO_PARTICIPANTS
from atmsim.shell.broker import EmbeddedBroker
from bpjs_ledger.seed import seed_ledger
from bpjs_ledger.service import BALANCE_REQUEST_TOPIC, CONTRIBUTION_POST_TOPIC
from bpjs_ledger.store import LedgerStore
from tests.ledger.conftest import AS_OF

pytestmark = pytest.mark.mosquitto

ROOT = Path(__file__).resolve().parents[2]
RETRY_AFTER = 0.5  # seconds without an answer before the same id is published again
DEADLINE = 4.0  # the requester's whole deadline (the switch's ledger deadline)


class Worker:
    """``tests.ledger.ledger_worker`` in a process of its own."""

    def __init__(self, db: Path | str, broker: EmbeddedBroker, log: Path) -> None:
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.ledger.ledger_worker", "--db", str(db),
             "--mqtt", broker.endpoint.secret_url, "--log", str(log)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    async def ready(self, timeout: float = 30) -> None:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout)
        assert line.strip() == "ready", f"worker did not start: {line}{self.process.stdout.read()}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def handled(self, what: str) -> set[str]:
        """Ids of the requests of kind ``what`` this worker handled (its DEBUG log)."""
        return set(re.findall(rf"{what} (?:request|post) (\S+)", self.log.read_text()))


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


class Requester:
    """Publishes requests with a reply topic of its own and counts every answer by id."""

    def __init__(self, bus: MqttBus) -> None:
        self.bus = bus
        self.reply_topic = f"atmsim/v1/reply/tester/{uuid.uuid4().hex[:8]}"
        self.answers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.published: dict[str, int] = defaultdict(int)
        self._arrived: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        bus.serve(self.reply_topic, self._answer)

    async def _answer(self, body: dict[str, Any]) -> None:
        self.answers[str(body.get("id"))].append(body)
        self._arrived[str(body.get("id"))].set()

    async def send(self, topic: str, body: dict[str, Any]) -> None:
        self.published[body["id"]] += 1
        assert await self.bus.publish(topic, {**body, "reply_to": self.reply_topic})

    async def ask(self, topic: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Publish; re-publish the same id every RETRY_AFTER without an answer, until
        DEADLINE. The first answer, or None."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + DEADLINE
        while (left := give_up - loop.time()) > 0:
            await self.send(topic, body)
            try:
                await asyncio.wait_for(self._arrived[body["id"]].wait(), min(RETRY_AFTER, left))
                return self.answers[body["id"]][0]
            except TimeoutError:
                continue
        return None


async def _requester(broker: EmbeddedBroker) -> tuple[MqttBus, Requester]:
    bus = MqttBus(broker.endpoint, "requester")
    requester = Requester(bus)
    await bus.__aenter__()
    assert await bus.wait_connected(10)
    return bus, requester


async def test_two_workers_share_the_load_and_every_request_survives_losing_one(
        mosquitto_broker: EmbeddedBroker, tmp_path: Path, workers: list[Worker]) -> None:
    db = tmp_path / "ledger.db"
    with LedgerStore(db, demo_as_of=AS_OF) as store:
        expected = {p.kpj: store.balance(p.nik, p.kpj).balance_sen for p in DEMO_PARTICIPANTS}
    workers += [Worker(db, mosquitto_broker, tmp_path / f"{name}.log") for name in "ab"]
    await asyncio.gather(*(w.ready() for w in workers))
    bus, requester = await _requester(mosquitto_broker)
    try:
        async def one(n: int) -> dict[str, Any] | None:
            who = DEMO_PARTICIPANTS[n % len(DEMO_PARTICIPANTS)]
            return await requester.ask(BALANCE_REQUEST_TOPIC, {
                "id": f"r{n}", "nik": who.nik, "kpj": who.kpj, "channel": "ATM",
                "terminal_id": "BNI00002", "requested_at": "2026-11-02T09:00:00+07:00"})

        steady = [asyncio.create_task(one(n)) for n in range(150)]
        await asyncio.gather(*steady[:100])
        # Kill one worker while a burst is in flight: some requests die with it.
        burst = [asyncio.create_task(one(n)) for n in range(150, 400)]
        await asyncio.sleep(0.005)
        workers[0].kill()
        answers = await asyncio.gather(*steady, *burst)
    finally:
        await bus.close()

    assert all(a is not None for a in answers), "some requests were never answered"
    for n, answer in enumerate(answers):
        assert answer is not None
        who = DEMO_PARTICIPANTS[n % len(DEMO_PARTICIPANTS)]
        assert (answer["id"], answer["result"], answer["balance_sen"]) == (
            f"r{n}", "OK", expected[who.kpj])
    # A worker answers a publish once: more answers than publishes would be double work.
    for request_id, replies in requester.answers.items():
        assert len(replies) <= requester.published[request_id], request_id
    once = [i for i, count in requester.published.items() if count == 1]
    assert all(len(requester.answers[i]) == 1 for i in once)
    # Both workers took a share of the requests before one died.
    first, second = (w.handled("balance") for w in workers)
    assert first and second
    assert set(requester.answers) <= first | second


async def test_kill_9_while_posting_loses_no_acknowledged_post_and_counts_none_twice(
        mosquitto_broker: EmbeddedBroker, db_target: Path | str, tmp_path: Path,
        workers: list[Worker]) -> None:
    seed_ledger(db_target, participants=900, seed=5, as_of=AS_OF)
    with LedgerStore(db_target) as store:
        eligible = store.db.query(
            "SELECT p.kpj, p.employer_npp, b.balance_sen FROM participants AS p "
            "JOIN balances AS b ON b.kpj = p.kpj WHERE p.status = 'AKTIF' AND "
            "b.last_contribution = '2026-09' ORDER BY p.kpj")
        total_before = sum(int(balance) for _, _, balance in eligible)
    posts = [{"id": f"p{n}", "key": f"2026-10/{kpj}", "kpj": kpj, "npp": npp,
              "period": "2026-10", "wage_sen": 5_000_000_00, "paid_on": "2026-11-10"}
             for n, (kpj, npp, _) in enumerate(eligible)]
    assert len(posts) > 300

    workers.append(Worker(db_target, mosquitto_broker, tmp_path / "first.log"))
    await workers[0].ready()
    bus, requester = await _requester(mosquitto_broker)
    try:
        for body in posts:
            await requester.send(CONTRIBUTION_POST_TOPIC, body)
        async with asyncio.timeout(30):
            while len(requester.answers) < len(posts) // 3:
                await asyncio.sleep(0.002)
        workers[0].kill()  # mid-stream: posts queued, in a transaction, or committed unacked
        acknowledged = {body["key"] for body in posts
                        if any(a["result"] == "POSTED" for a in requester.answers[body["id"]])}
        committed_at_kill = _keys(db_target)

        workers.append(Worker(db_target, mosquitto_broker, tmp_path / "second.log"))
        await workers[1].ready()
        # PostgreSQL may still finish a COMMIT the dead worker had sent: read again.
        committed_before_resend = _keys(db_target)
        # The employer sends again what was not acknowledged, and replays the rest too:
        # new requests, the same keys.
        final = await asyncio.gather(*(requester.ask(CONTRIBUTION_POST_TOPIC,
                                                     {**body, "id": f"{body['id']}-again"})
                                       for body in posts))
    finally:
        await bus.close()

    assert 0 < len(acknowledged) < len(posts)
    assert acknowledged <= committed_at_kill  # nothing acknowledged before its commit
    assert all(f is not None and f["result"] == "POSTED" for f in final), final
    duplicates = {f["key"] for f in final if f and f["duplicate"]}
    assert committed_at_kill <= committed_before_resend
    assert duplicates == committed_before_resend  # exactly the posts committed before
    with LedgerStore(db_target, seed_demo=False) as store:
        keys = store.db.query("SELECT COUNT(*), COUNT(DISTINCT post_key) FROM contribution_posts")
        october = store.db.query("SELECT COUNT(*) FROM contributions WHERE period = '2026-10'")
        total_after = sum(int(row[0]) for row in store.db.query(
            f"SELECT balance_sen FROM balances WHERE kpj IN "
            f"({', '.join('?' * len(eligible))})", [kpj for kpj, _, _ in eligible]))
        jht = sum(int(f["jht_sen"]) for f in final if f)
    assert keys == [(len(posts), len(posts))]
    assert october == [(len(posts),)]
    assert total_after == total_before + jht  # each post counted once in the balances


def _keys(target: Path | str) -> set[str]:
    with LedgerStore(target, seed_demo=False) as store:
        return {str(row[0]) for row in store.db.query("SELECT post_key FROM contribution_posts")}


async def test_two_workers_on_postgres_share_a_burst_and_answer_each_request_once(
        mosquitto_broker: EmbeddedBroker, postgres_url: str, tmp_path: Path,
        workers: list[Worker]) -> None:
    """Two ledger processes (as on two machines) on one PostgreSQL ledger, behind one
    shared subscription: a burst published once per request is split between them, and
    each request gets exactly one answer, the right one."""
    with LedgerStore(postgres_url, demo_as_of=AS_OF) as store:
        expected = {p.kpj: store.balance(p.nik, p.kpj).balance_sen for p in DEMO_PARTICIPANTS}
    workers += [Worker(postgres_url, mosquitto_broker, tmp_path / f"{name}.log")
                for name in "ab"]
    await asyncio.gather(*(w.ready() for w in workers))
    bus, requester = await _requester(mosquitto_broker)
    burst = 300
    try:
        for n in range(burst):
            who = DEMO_PARTICIPANTS[n % len(DEMO_PARTICIPANTS)]
            await requester.send(BALANCE_REQUEST_TOPIC, {
                "id": f"pg{n}", "nik": who.nik, "kpj": who.kpj, "channel": "ATM",
                "terminal_id": "BNI00002", "requested_at": "2026-11-02T09:00:00+07:00"})
        async with asyncio.timeout(30):
            while len(requester.answers) < burst:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # a second answer to any of them would arrive by now
    finally:
        await bus.close()
    assert set(requester.answers) == {f"pg{n}" for n in range(burst)}
    for n in range(burst):
        replies = requester.answers[f"pg{n}"]
        who = DEMO_PARTICIPANTS[n % len(DEMO_PARTICIPANTS)]
        assert len(replies) == 1, (n, replies)
        assert (replies[0]["result"], replies[0]["balance_sen"]) == ("OK", expected[who.kpj])
    first, second = (w.handled("balance") for w in workers)
    assert first and second and not first & second  # both took a share, none twice
    assert first | second == set(requester.answers)
    print(f"\ntwo ledger workers on PostgreSQL: {len(first)} and {len(second)} of {burst}")
