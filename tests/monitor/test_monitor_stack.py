"""``atmsim monitor`` against a real stack (broker, HSM, ledger, switch; Mosquitto and
amqtt): real inquiries from an ATM, the events read with the monitor's own account as
``atmsim monitor`` finds it in the data directory, and the dashboard driven by Pilot."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from rich.text import Text

from atm_monitor.app import MonitorApp
from atm_monitor.feed import EventFeed
from atm_monitor.traffic import Traffic
from atm_monitor.widgets import AlarmPanel, CodeMix, TerminalTable
from atmsim.kernel.bus import MAX_PACKET, MqttBus, MqttEndpoint
from atmsim.kernel.demo_data import DEMO_CARDS
from atmsim.shell.cli import main
from atmsim.shell.config import load_settings
from atmsim.shell.monitor_cli import monitor_endpoint, reach
from atmsim.testing.harness import RunningStack
from tests.conftest import free_port, require_broker
from tests.monitor.events import payload

BUDI = next(c for c in DEMO_CARDS if c.holder.startswith("Budi"))
EVENTS = "atmsim/v1/events/tx"


@pytest.fixture(scope="module", params=["mosquitto", "amqtt"])
def running(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    require_broker(request.param)
    stack = RunningStack.start(tmp_path_factory.mktemp(f"monitor-{request.param}"),
                               broker=request.param)
    try:
        yield stack
    finally:
        stack.stop()


def _monitor_account(running: RunningStack) -> MqttEndpoint:
    """The account ``atmsim monitor --data-dir D --mqtt-port P`` uses."""
    settings = load_settings(env={}, overrides={
        "data_dir": str(running.data_dir), "mqtt": {"port": running.stack.settings.mqtt.port}})
    return monitor_endpoint(settings)


@asynccontextmanager
async def dashboard(running: RunningStack) -> AsyncIterator[tuple[MonitorApp, Traffic]]:
    endpoint = _monitor_account(running)
    assert endpoint.username == "monitor"
    async with MqttBus(endpoint, "monitor") as bus:
        traffic = Traffic()
        feed = EventFeed(bus, traffic)
        feed.start()
        await reach(bus)
        app = MonitorApp(feed=feed)
        async with app.run_test(size=(120, 40)):
            yield app, traffic


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within 10 s: {what}")


def _text(widget: object) -> str:
    content = getattr(widget, "content", "")
    return content.plain if isinstance(content, Text) else str(content)


def _row(table: TerminalTable, terminal: str) -> list[str]:
    for key in table.rows:
        cells = [c.plain if isinstance(c, Text) else str(c) for c in table.get_row(key)]
        if cells[0] == terminal:
            return cells
    raise AssertionError(f"{terminal} not in the terminal table")


async def test_the_dashboard_shows_the_inquiries_and_their_codes(running: RunningStack) -> None:
    async with dashboard(running) as (app, traffic), running.atm() as atm:
        before = traffic.inquiries
        assert (await atm.inquire(BUDI.pan, BUDI.pin)).result.response_code == "00"
        assert (await atm.inquire(BUDI.pan, "000009")).result.response_code == "55"
        assert (await atm.inquire(BUDI.pan, BUDI.pin)).result.response_code == "00"
        await until(lambda: traffic.inquiries == before + 3, "three inquiries seen")
        app.redraw()
        mix = _text(app.query_one(CodeMix))
        assert "00 approved" in mix and "55 wrong PIN" in mix
        terminal = _row(app.query_one(TerminalTable), "BNI00001")
        # terminal, last seen, ago, last rc, inquiries, approved, declined, other
        assert before == 0 and terminal[3:7] == ["00", "3", "2", "1"]
        assert int(terminal[7]) >= 1  # the ATM's sign-on (0800)
        seen = [s.event for s in traffic.last if s.event.is_inquiry][-3:]
        assert [e.response_code for e in seen] == ["00", "55", "00"]
        assert {e.pan for e in seen} == {"526422******0010"}
        switch = traffic.percentiles("switch", app.clock())
        assert switch is not None and switch.count >= 3 and switch.p50 > 0


async def test_hostile_events_are_counted_and_the_dashboard_goes_on(
        running: RunningStack) -> None:
    kind = running.stack.settings.mqtt.broker
    hostile = [b"\xff not json", b"[]", json.dumps({"mti": "0200", "response_code": 0,
                                                    "latency_ms": 1}).encode(),
               b'{"pad": "' + b"x" * 200_000 + b'"}']
    if kind == "amqtt":  # Mosquitto disconnects a sender of over 1 MiB instead of relaying
        hostile.append(b"x" * (MAX_PACKET + 10))
    async with dashboard(running) as (app, traffic), \
            MqttBus(running.switch_endpoint, "insider") as insider:
        await insider.established(5)
        for raw in hostile:  # an insider (the switch's account) publishes garbage
            await insider._connection.publish_acked(EVENTS, raw)  # type: ignore[union-attr]

        def counted() -> bool:
            app.redraw()  # counts the bus's dropped oversize messages too
            return traffic.unreadable == len(hostile)

        await until(counted, f"{len(hostile)} unreadable events")
        alarms = _text(app.query_one(AlarmPanel))
        assert f"unreadable events: {len(hostile)}" in alarms
        async with running.atm() as atm:
            before = traffic.inquiries
            await atm.inquire(BUDI.pan, BUDI.pin)
            await until(lambda: traffic.inquiries == before + 1, "the next inquiry seen")
        assert app.is_running


async def test_the_monitor_account_cannot_publish(running: RunningStack) -> None:
    async with dashboard(running) as (_, traffic), \
            MqttBus(_monitor_account(running), "forger") as forger:
        await forger.established(5)
        forged = payload(0, terminal_id="FORGED01")
        try:
            await forger._connection.publish_acked(EVENTS, forged)  # type: ignore[union-attr]
        except Exception:  # MQTT 5 on Mosquitto: PUBACK 0x87 (not authorised)
            pass
        async with running.atm() as atm:  # after it: a real event the monitor does see
            before = traffic.inquiries
            await atm.inquire(BUDI.pan, BUDI.pin)
            await until(lambda: traffic.inquiries == before + 1, "the real inquiry seen")
        assert "FORGED01" not in traffic.terminals and traffic.unreadable == 0


def test_atmsim_monitor_without_a_broker_is_one_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["monitor", "--data-dir", str(tmp_path), "--mqtt-port", str(free_port())])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert err.startswith("atmsim: cannot connect to the MQTT broker mqtt://127.0.0.1:")
    assert main(["monitor", "--data-dir", str(tmp_path), "--window", "5"]) == 2
    assert "--window 5: from 10 to 3600 seconds" in capsys.readouterr().err


def test_atmsim_monitor_serve_puts_the_dashboard_in_a_browser(running: RunningStack) -> None:
    if running.stack.settings.mqtt.broker != "mosquitto":
        pytest.skip("one broker is enough to check the web server")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "atmsim.shell.cli", "monitor", "--data-dir",
         str(running.data_dir), "--mqtt-port", str(running.stack.settings.mqtt.port),
         "--serve", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "ATMSIM_LOG_LEVEL": "WARNING"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"monitor on http://127.0.0.1:{port}"), line
        assert "monitor:***@" in line
        page = ""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    page = answer.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "atmsim monitor" in page and "/ws" in page
    finally:
        process.terminate()
        process.wait(10)
    assert "password" not in (process.stderr.read() if process.stderr else "")


def test_a_switch_shedding_load_raises_the_alarm(tmp_path: Path) -> None:
    """One inquiry admitted at a time (``switch.max_pending = 1``) and twelve in flight at
    once: the switch answers the rest 91 "switch busy", and the monitor says so."""
    require_broker("mosquitto")
    running = RunningStack.start(tmp_path / "data", broker="mosquitto",
                                 settings={"switch": {"max_pending": 1}})

    async def flood() -> tuple[list[str], str]:
        async with dashboard(running) as (app, traffic), running.atm() as atm:
            answers = await asyncio.gather(*(atm.inquire(BUDI.pan, BUDI.pin)
                                             for _ in range(12)))
            codes = [a.result.response_code for a in answers]
            await until(lambda: traffic.inquiries == 12, "twelve inquiries seen")
            app.redraw()
            return codes, _text(app.query_one(AlarmPanel))

    try:
        codes, alarms = asyncio.run(flood())
    finally:
        running.stop()
    shed = codes.count("91")
    assert shed >= 1 and set(codes) <= {"00", "91"}
    assert f"switch shedding load: {shed} inquiries answered 91 at once" in alarms
