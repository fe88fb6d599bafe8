"""JMO/SSO portal: Cek Saldo JHT pages per second, and logins per second.

    python benchmarks/portal_channel.py [--seconds 10] [--concurrency 16]

Starts the whole back end (embedded broker, HSM, ledger, switch) and the portal on free
loopback ports in one process (a thread of their own), registers and logs in the demo
participants, then keeps ``--concurrency`` logged-in browsers (aiohttp clients, in this
process's main thread) asking for ``/peserta/saldo`` for ``--seconds``: each page is a
session lookup, a statement request to the ledger over MQTT and a rendered page. Then the
same for logins (each an Argon2id check). Prints pages/s and p50/p99 latency. The machine
is shared with whatever else runs: compare figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from yarl import URL  # noqa: E402

from atmsim.kernel.demo_data import DEMO_PARTICIPANTS  # noqa: E402
from atmsim.testing.harness import RunningStack  # noqa: E402
from bpjs_ledger.identity import parse_nik  # noqa: E402
from jmo_portal.limits import Limit  # noqa: E402
from jmo_portal.mail import read_inbox  # noqa: E402
from jmo_portal.server import Portal  # noqa: E402

PASSWORD = "rahasia123"


def birth_date(nik: str) -> str:
    return f"{parse_nik(nik).birth_date:%d-%m-%Y}"


async def csrf_of(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        match = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert match
    return match.group(1)


async def logged_in(base: str, data_dir: Path, who) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    email = f"{who.kpj}@example.id"
    token = await csrf_of(session, base + "/daftar")
    form = {"csrf": token, "nik": who.nik, "kpj": who.kpj, "name": who.name,
            "birth_date": birth_date(who.nik), "segment": who.segment, "email": email,
            "password": PASSWORD, "password_confirm": PASSWORD}
    async with session.post(base + "/daftar", data=form) as response:
        assert response.status in (201, 409), response.status
    for mail in read_inbox(data_dir):
        if mail.to == email:
            link = re.search(r"http://\S+", mail.body)
            assert link
            async with session.get(link.group(0)):
                pass
    token = await csrf_of(session, base + "/masuk")
    async with session.post(base + "/masuk", allow_redirects=False,
                            data={"csrf": token, "login": email, "password": PASSWORD}) as r:
        assert r.status == 303, r.status
    return session


async def drive(sessions: list[aiohttp.ClientSession], base: str, path: str, seconds: float,
                login: dict[str, str] | None = None) -> tuple[int, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if login is None:
                async with session.get(base + path) as response:
                    await response.read()
                    ok = response.status == 200
            else:
                token = session.cookie_jar.filter_cookies(URL(base)).get("jmo_csrf")
                async with session.post(base + path, allow_redirects=False, data={
                        **login, "csrf": token.value if token else ""}) as response:
                    await response.read()
                    ok = response.status == 303
            if ok:
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one(s) for s in sessions))
    return len(latencies), latencies


def report(what: str, count: int, latencies: list[float], seconds: float) -> None:
    if not latencies:
        print(f"{what}: nothing answered")
        return
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{what}: {count / seconds:,.0f}/s  p50 {statistics.median(ordered) * 1000:.1f} ms  "
          f"p99 {p99 * 1000:.1f} ms  ({count} in {seconds:g} s)")


async def main_async(args: argparse.Namespace, base: str, data_dir: Path) -> None:
    sessions = [await logged_in(base, data_dir, DEMO_PARTICIPANTS[i % 5])
                for i in range(min(args.concurrency, 5))]
    sessions = [sessions[i % len(sessions)] for i in range(args.concurrency)]
    count, latencies = await drive(sessions, base, "/peserta/saldo", args.seconds)
    report(f"Cek Saldo JHT pages, {args.concurrency} in flight", count, latencies, args.seconds)
    login_sessions = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
                      for _ in range(4)]
    for session in login_sessions:
        await csrf_of(session, base + "/masuk")
    who = DEMO_PARTICIPANTS[0]
    count, latencies = await drive(login_sessions, base, "/masuk", args.seconds / 2,
                                   login={"login": f"{who.kpj}@example.id",
                                          "password": PASSWORD})
    report("logins (Argon2id), 4 in flight", count, latencies, args.seconds / 2)
    for session in {id(s): s for s in sessions + login_sessions}.values():
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atmsim-portal-bench-") as tmp:
        stack = RunningStack.start(Path(tmp))
        try:
            broker = stack.stack.broker
            assert broker is not None
            roomy = {name: Limit(10**9, 1.0) for name in ("login", "register", "member")}
            portal = Portal(data_dir=stack.data_dir, host="127.0.0.1", port=0,
                            db=stack.data_dir / "portal" / "portal.db",
                            endpoint=broker.endpoint_for("portal"), smtp=None, mail_port=0,
                            limits=roomy)
            stack.call(portal.__aenter__())
            try:
                print(f"broker: {broker.kind}; portal on {portal.url}")
                asyncio.run(main_async(args, portal.url, stack.data_dir))
            finally:
                stack.call(portal.__aexit__(None, None, None))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
