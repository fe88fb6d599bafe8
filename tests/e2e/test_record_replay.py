"""Record traffic through ``atmsim record``, replay it with ``atmsim replay`` against the
stack, and turn it into a scenario: every captured response is reproduced, a changed one
is reported field by field, and a masked capture holds no PAN or PIN block."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import yaml

from atmsim.kernel.demo_data import DEMO_CARDS
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink
from tests.cli.helpers import finish, run_atmsim, start_atmsim
from tests.conftest import free_port
from tests.e2e.atm import demo_round
from tests.e2e.tshark import capturing


async def _traffic(host: str, port: int) -> int:
    async with AtmHostLink(host, port, terminal_id="BNI00001") as link:
        return await demo_round(link)


WRONG_PIN = len(DEMO_CARDS) + 3  # the number of the wrong-PIN inquiry in the capture


async def _record(stack: Stack, out: Path, *extra: str) -> tuple[int, str]:
    """Run ``atmsim record`` in front of the stack's switch for one round of traffic."""
    assert stack.switch is not None
    port = free_port()
    process = await start_atmsim("record", "--listen", str(port), "--target",
                                 f"{stack.switch.host}:{stack.switch.port}", "--out",
                                 str(out), *extra)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert b"recording 127.0.0.1:" in line, line
    requests = await _traffic("127.0.0.1", port)
    process.send_signal(signal.SIGINT)
    done = await finish(process, 10)
    assert done.code == 0, done.stderr
    return requests, done.stderr


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_masked_capture_replays_with_every_response_reproduced(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    capture = tmp_path / "day.jsonl"
    requests, stderr = await _record(amqtt_stack, capture)
    assert "--raw" not in stderr

    records = _records(capture)
    frames = [r for r in records if "dir" in r and "event" not in r]
    assert [r["dir"] for r in frames].count("c2s") == requests
    assert [r["dir"] for r in frames].count("s2c") == requests
    assert {r["event"] for r in records if "event" in r} == {"open", "close"}
    text = capture.read_text()
    for demo in DEMO_CARDS:
        assert demo.pan not in text  # masked: first 6 and last 4 only
    inquiries = [r["fields"] for r in frames if r["fields"]["t"] == "0200"]  # type: ignore[index]
    assert all(set(f["52"]) == {"*"} for f in inquiries)  # type: ignore[index]
    assert "hex" not in text

    assert amqtt_stack.switch is not None
    target = f"{amqtt_stack.switch.host}:{amqtt_stack.switch.port}"
    done = await run_atmsim("replay", str(capture), "--target", target, "--demo-cards",
                            "--tpk", "demo", "--speed", "4")
    # A masked capture has no PIN block: the card's right PIN is used, the wrong-PIN
    # inquiry is approved now, and the report says exactly that.
    assert done.code == 1, done.stdout + done.stderr
    assert f"identical {requests - 1} · different 1 · no reply 0 · not sent 0" in done.stdout
    assert f"#{WRONG_PIN} conn 1 0200" in done.stdout
    assert "PAN 526422******0010: 39: captured '55', replayed '00'" in done.stdout
    assert "ignored, as they must differ: 7, 11, 12, 13, 37, 38" in done.stdout


async def test_a_changed_response_is_reported_field_by_field(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    capture = tmp_path / "day.jsonl"
    await _record(amqtt_stack, capture, "--raw")
    # As if the switch had answered the wrong-PIN inquiry 05 when the capture was made.
    lines = capture.read_text().splitlines()
    replies = [i for i, line in enumerate(lines) if '"dir":"s2c"' in line]
    record = json.loads(lines[replies[-2]])
    assert record["fields"]["39"] == "55"
    record["fields"]["39"] = "05"
    lines[replies[-2]] = json.dumps(record)
    capture.write_text("\n".join(lines) + "\n")

    assert amqtt_stack.switch is not None
    report = tmp_path / "report.json"
    done = await run_atmsim("replay", str(capture), "--target",
                            f"{amqtt_stack.switch.host}:{amqtt_stack.switch.port}",
                            "--as-fast-as-possible", "--json", str(report))
    assert done.code == 1, done.stdout + done.stderr
    assert "different 1 ·" in done.stdout
    assert "PAN 526422******0010: 39: captured '05', replayed '55'" in done.stdout
    assert json.loads(report.read_text())["differences"][0]["diff"] == [
        "39: captured '05', replayed '55'"]


async def test_a_masked_capture_without_cards_says_what_it_needs(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    capture = tmp_path / "day.jsonl"
    requests, _ = await _record(amqtt_stack, capture)
    assert amqtt_stack.switch is not None
    done = await run_atmsim("replay", str(capture), "--target",
                            f"{amqtt_stack.switch.host}:{amqtt_stack.switch.port}",
                            "--as-fast-as-possible")
    assert done.code == 1
    inquiries = requests - 2  # all but the sign-on and the echo
    assert f"not sent {inquiries}" in done.stdout
    assert "no card given matches (--cards)" in done.stdout


async def test_a_raw_capture_warns_and_replays_its_pin_blocks_as_they_are(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    capture = tmp_path / "raw.jsonl"
    requests, stderr = await _record(amqtt_stack, capture, "--raw")
    assert "--raw keeps clear PANs" in stderr
    frames = [r for r in _records(capture) if "hex" in r]
    assert len(frames) == 2 * requests
    assert DEMO_CARDS[0].pan in capture.read_text()

    assert amqtt_stack.switch is not None
    target = f"{amqtt_stack.switch.host}:{amqtt_stack.switch.port}"
    done = await run_atmsim("replay", str(capture), "--target", target,
                            "--as-fast-as-possible")
    assert done.code == 0, done.stdout + done.stderr
    assert f"identical {requests} · different 0 · no reply 0 · not sent 0" in done.stdout
    # Translated from the capture's TPK to the target's (here the same demo key): the
    # wrong PIN stays wrong, every response again.
    done = await run_atmsim("replay", str(capture), "--target", target, "--capture-tpk",
                            "demo", "--tpk", "demo", "--as-fast-as-possible")
    assert done.code == 0, done.stdout + done.stderr
    assert f"identical {requests} ·" in done.stdout


async def test_a_capture_becomes_a_scenario(amqtt_stack: Stack, tmp_path: Path) -> None:
    capture = tmp_path / "day.jsonl"
    requests, _ = await _record(amqtt_stack, capture)
    out = tmp_path / "day.yaml"
    done = await run_atmsim("scenario", "from-capture", str(capture), "--out", str(out),
                            "--demo-cards")
    assert done.code == 0, done.stderr
    scenario = yaml.safe_load(out.read_text())
    assert scenario["name"] == "day"
    steps = scenario["steps"]
    assert len(steps) == requests
    sign_on = steps[0]
    assert sign_on["send"]["t"] == "0800" and sign_on["send"]["11"] == "${new.stan}"
    assert sign_on["expect"] == {"t": "0810", "7": "echo", "11": "echo", "39": "00",
                                 "41": "echo", "70": "echo"}
    first = steps[1]
    assert first["send"]["2"] == "${card1_pan}"
    assert first["send"]["52"] == {"pin_block": {"pin": "${card1_pin}", "pan": "${card1_pan}",
                                                 "key": "${tpk}"}}
    assert first["send"]["37"] == "${new.rrn}"
    assert first["expect"]["39"] == "00" and first["expect"]["38"] == "present"
    assert scenario["vars"]["card1_pan"] == DEMO_CARDS[0].pan
    wrong_pin = steps[-2]
    assert wrong_pin["expect"]["39"] == "55"

    masked = await run_atmsim("scenario", "from-capture", str(capture))
    assert masked.code == 0
    assert "card1_pan: the PAN of card 526422******0010" in masked.stdout


async def test_a_tshark_capture_replays_with_every_response_reproduced(
        amqtt_stack: Stack, tmp_path: Path) -> None:
    assert amqtt_stack.switch is not None
    port = amqtt_stack.switch.port
    capture = tmp_path / "switch.pcapng"
    async with capturing(port, capture):
        requests = await _traffic(amqtt_stack.switch.host, port)

    done = await run_atmsim("replay", str(capture), "--port", str(port), "--target",
                            f"{amqtt_stack.switch.host}:{port}", "--speed", "4")
    assert done.code == 0, done.stdout + done.stderr
    assert f"replayed {requests} of {requests} captured requests" in done.stdout
    assert f"identical {requests} · different 0 · no reply 0 · not sent 0" in done.stdout
