"""``atmsim up`` / ``atmsim demo`` when a port is taken, and Ctrl-C: one line, exit 2,
nothing left running, never a hang (issue 9 item 10).

Each run is its own ``atmsim`` process with its own data directory and ports, as a user
starts it; the repeats run a few at a time so that the file takes seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.cli.helpers import (
    Finished,
    finish,
    listening,
    port_is_free,
    port_taken,
    run_atmsim,
    start_atmsim,
    wait_port_free,
)
from tests.conftest import free_port

# A start that fails must end well inside this; a hang is killed at it and fails the test.
RUN_LIMIT = 10.0
# Ctrl-C ends the process within this (the 3 s), with margin for a busy machine
# only in how long the process takes to notice, not in what it must do.
CTRL_C_LIMIT = 3.0
REPEATS = 20
AT_ONCE = 5


def _up_args(data_dir: Path, switch: int, hsm: int, mqtt: int, *extra: str) -> list[str]:
    return ["up", "--data-dir", str(data_dir), "--switch-port", str(switch),
            "--hsm-port", str(hsm), "--mqtt-port", str(mqtt), *extra]


def _assert_one_line(run: Finished, expected: str) -> None:
    assert run.code is not None, f"hung (killed after {RUN_LIMIT:.0f}s): {run.stderr!r}"
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    assert run.stderr_lines == [expected], run.stderr
    assert "atmsim back end up" not in run.stdout


async def test_switch_port_taken_twenty_times(tmp_path: Path) -> None:
    switch = free_port()
    with port_taken(switch):
        slots = asyncio.Semaphore(AT_ONCE)

        async def one(number: int) -> tuple[Finished, int, int]:
            hsm, mqtt = free_port(), free_port()
            async with slots:
                run = await run_atmsim(*_up_args(tmp_path / f"d{number}", switch, hsm, mqtt),
                                       timeout=RUN_LIMIT)
            return run, hsm, mqtt

        results = await asyncio.gather(*(one(n) for n in range(REPEATS)))
    hung = sum(run.code is None for run, _, _ in results)
    assert hung == 0, f"{hung} of {REPEATS} runs hung"
    for run, hsm, mqtt in results:
        _assert_one_line(run, f"atmsim: switch cannot listen on 127.0.0.1:{switch}: "
                              "address already in use")
        assert await wait_port_free(mqtt), "a broker child was left listening"
        assert port_is_free(hsm)


@pytest.mark.parametrize("part", ["HSM", "broker"])
async def test_hsm_or_broker_port_taken(part: str, tmp_path: Path) -> None:
    switch, hsm, mqtt = free_port(), free_port(), free_port()
    taken = hsm if part == "HSM" else mqtt
    with port_taken(taken):
        run = await run_atmsim(*_up_args(tmp_path, switch, hsm, mqtt), timeout=RUN_LIMIT)
    _assert_one_line(run, f"atmsim: {part} cannot listen on 127.0.0.1:{taken}: "
                          "address already in use")
    assert port_is_free(switch) and await wait_port_free(mqtt) and port_is_free(hsm)


async def test_demo_headless_with_the_switch_port_taken(tmp_path: Path) -> None:
    switch, hsm, mqtt = free_port(), free_port(), free_port()
    with port_taken(switch):
        run = await run_atmsim("demo", "--headless", *_up_args(tmp_path, switch, hsm, mqtt)[1:],
                               timeout=RUN_LIMIT)
    _assert_one_line(run, f"atmsim: switch cannot listen on 127.0.0.1:{switch}: "
                          "address already in use")
    assert await wait_port_free(mqtt)


async def test_switch_port_taken_after_the_broker_started(tmp_path: Path) -> None:
    """The port check passes, the broker child, HSM and ledger start, and only then is the
    switch port taken: the switch's own bind fails and everything started is closed. This
    is the path that hung before (a bus task that ignored its cancellation)."""
    failed_late = 0
    for number in range(8):
        if failed_late == 2:
            break
        switch, hsm, mqtt = free_port(), free_port(), free_port()
        process = await start_atmsim(*_up_args(tmp_path / f"d{number}", switch, hsm, mqtt,
                                                "--broker", "amqtt"))
        holder = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUN_LIMIT
        while loop.time() < deadline and process.returncode is None:
            if await listening(mqtt):
                try:
                    holder = port_taken(switch)
                    holder.__enter__()
                except OSError:  # the switch was quicker: this round proves nothing
                    holder = None
                break
            await asyncio.sleep(0.005)
        try:
            if holder is None:
                process.send_signal(signal.SIGINT)
                await finish(process, RUN_LIMIT)
                continue
            run = await finish(process, RUN_LIMIT)
        finally:
            if holder is not None:
                holder.__exit__(None, None, None)
        if run.code == 2:
            failed_late += 1
            assert run.stderr_lines == [f"atmsim: switch cannot listen on 127.0.0.1:{switch}: "
                                        "address already in use"], run.stderr
        else:
            assert run.code is not None, f"hung: {run.stderr!r}"
        assert await wait_port_free(mqtt), "the broker child was left running"
        assert port_is_free(hsm)
    assert failed_late >= 1, "the switch port was never taken in time; nothing was tested"


async def _wait_for_line(process: asyncio.subprocess.Process, prefix: str) -> str:
    assert process.stdout is not None
    seen = []
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        seen.append(line)
        if not line or line.startswith(prefix):
            return "".join(seen)


async def _interrupt(process: asyncio.subprocess.Process) -> Finished:
    process.send_signal(signal.SIGINT)
    loop = asyncio.get_running_loop()
    sent = loop.time()
    run = await finish(process, CTRL_C_LIMIT + 5)
    took = loop.time() - sent
    assert run.code is not None and took < CTRL_C_LIMIT, f"Ctrl-C took {took:.1f}s"
    assert "Traceback" not in run.stderr
    return run


async def test_ctrl_c_once_up(tmp_path: Path) -> None:
    switch, hsm, mqtt = free_port(), free_port(), free_port()
    process = await start_atmsim(*_up_args(tmp_path, switch, hsm, mqtt))
    banner = await _wait_for_line(process, "try:")
    assert f"127.0.0.1:{switch}" in banner, banner
    run = await _interrupt(process)
    assert run.code == 0, run.stderr
    assert await wait_port_free(mqtt) and port_is_free(switch) and port_is_free(hsm)


async def test_ctrl_c_while_the_embedded_broker_starts(tmp_path: Path) -> None:
    switch, hsm, mqtt = free_port(), free_port(), free_port()
    # amqtt, a Python child, takes long enough to start that the signal lands inside it.
    process = await start_atmsim(*_up_args(tmp_path, switch, hsm, mqtt, "--broker", "amqtt"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RUN_LIMIT
    while not (tmp_path / "broker").exists() and loop.time() < deadline:
        await asyncio.sleep(0.005)
    run = await _interrupt(process)
    assert run.code == 130, (run.code, run.stderr)
    assert await wait_port_free(mqtt), "the broker child was left running"


async def test_ctrl_c_while_waiting_for_a_broker_that_does_not_answer(tmp_path: Path) -> None:
    # A closed port is reported at once (one line, exit 2); a broker that accepts the TCP
    # connection and never answers CONNECT is waited for, and Ctrl-C must end that wait.
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    switch, hsm = free_port(), free_port()
    try:
        process = await start_atmsim("up", "--data-dir", str(tmp_path), "--switch-port",
                                     str(switch), "--hsm-port", str(hsm), "--mqtt",
                                     f"mqtt://127.0.0.1:{port}")
        await asyncio.sleep(1.5)  # the switch's bus is waiting for a CONNACK
        assert process.returncode is None
        run = await _interrupt(process)
    finally:
        silent.close()
    assert run.code == 130, (run.code, run.stderr)
    assert port_is_free(hsm) and port_is_free(switch)


async def test_a_journal_another_process_holds_locked_is_one_line(tmp_path: Path) -> None:
    # A journal whose write lock another process keeps past the 5 s busy timeout (a second
    # switch rebuilding a large old journal, say): one line that says which file and why.
    from atm_switch.journal import TransactionJournal, journal_path

    data_dir = tmp_path / "data"
    path = journal_path(data_dir)
    TransactionJournal(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        run = await run_atmsim("journal", "--data-dir", str(data_dir), timeout=20)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert run.code == 2, run.stderr
    assert run.stderr_lines == [f"atmsim: transaction journal {path}: database is locked; "
                                "another process holds its write lock"]
