"""Every mistake a user can make on the ``atmsim`` command line, in an ``ATMSIM_*``
variable or in the TOML file: one line on stderr naming what is wrong and where, exit
status 2, no traceback, and nothing started (issue 9 item 11).

Each invocation is its own process, as a user runs it; a few run at a time.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.cli.helpers import Finished, port_taken, run_atmsim
from tests.conftest import free_port

PAN = ["--pan", "5264220000100010", "--pin", "123456"]


def _cases(tmp: Path, taken: int) -> list[tuple[str, list[str], dict[str, str], str]]:
    """(label, arguments, environment, words the one line must contain)."""
    a_file = tmp / "a-file"
    a_file.write_text("")
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text("[switch\nport = 1\n")
    port_toml = tmp / "port.toml"
    port_toml.write_text("[switch]\nport = 70000\n")
    type_toml = tmp / "type.toml"
    type_toml.write_text("[switch]\nhsm_deadline = 'soon'\n")
    unknown_toml = tmp / "unknown.toml"
    unknown_toml.write_text("[switch]\nprot = 9000\n")
    up = ["up", "--data-dir", str(tmp / "data")]
    return [
        ("terminal ID not 8 characters", ["inquire", *PAN, "--terminal", "XYZ"], {},
         "--terminal 'XYZ': a terminal ID (field 41) is 8 characters"),
        ("expiry month 13", ["inquire", *PAN, "--expiry", "13"], {}, "--expiry '13': "),
        ("expiry 2513", ["inquire", *PAN, "--expiry", "2513"], {}, "YYMM"),
        ("negative timeout", ["inquire", *PAN, "--timeout", "-1"], {}, "--timeout -1"),
        ("KPJ too short", ["inquire", *PAN, "--kpj", "12"], {}, "--kpj"),
        ("switch port not a number", ["inquire", *PAN, "--switch", "host:notaport"], {},
         "--switch 'host:notaport': expected HOST:PORT"),
        ("switch port out of range", ["inquire", *PAN, "--switch", "127.0.0.1:70000"], {},
         "expected HOST:PORT"),
        ("MQTT URL scheme", [*up, "--mqtt", "foo://bar"], {},
         "mqtt.url from --mqtt: unsupported MQTT URL scheme 'foo'"),
        ("MQTT URL port", [*up], {"ATMSIM_MQTT_URL": "mqtt://broker:99999"},
         "mqtt.url from ATMSIM_MQTT_URL: bad port"),
        ("web port taken", ["demo", "--web", "--web-port", str(taken),
                            "--data-dir", str(tmp / "web")], {},
         f"web ATM cannot listen on 127.0.0.1:{taken}: address already in use"),
        ("data directory under a file", ["up", "--data-dir", str(a_file / "data")], {},
         f"data directory {a_file / 'data'} cannot be created"),
        ("data directory is a file", ["demo", "--headless", "--data-dir", str(a_file)], {},
         f"data directory {a_file} cannot be created"),
        ("switch port 70000", [*up, "--switch-port", "70000"], {},
         "switch.port from --switch-port: 70000 is not a TCP port (1-65535)"),
        ("HSM port 0", [*up, "--hsm-port", "0"], {}, "hsm.port from --hsm-port: 0 is not"),
        ("broker port -1", [*up, "--mqtt-port", "-1"], {}, "mqtt.port from --mqtt-port"),
        ("web port 99999", ["demo", "--web", "--web-port", "99999"], {},
         "atm.web_port from --web-port"),
        ("port from the environment", up, {"ATMSIM_SWITCH_PORT": "99999"},
         "switch.port from ATMSIM_SWITCH_PORT: 99999 is not a TCP port"),
        ("port not a number in the environment", up, {"ATMSIM_HSM_PORT": "fifteen"},
         "hsm.port from ATMSIM_HSM_PORT: 'fifteen' is not a whole number"),
        ("port from the TOML file", [*up, "--config", str(port_toml)], {},
         f"switch.port in {port_toml}: 70000 is not a TCP port"),
        ("wrong type in the TOML file", [*up, "--config", str(type_toml)], {},
         f"switch.hsm_deadline in {type_toml}: 'soon' is not a number"),
        ("unknown TOML setting", [*up, "--config", str(unknown_toml)], {},
         "unknown setting switch.prot"),
        ("negative deadline", up, {"ATMSIM_SWITCH_HSM_DEADLINE": "-2"},
         "switch.hsm_deadline from ATMSIM_SWITCH_HSM_DEADLINE: -2.0 must be above 0"),
        ("zero ledger deadline", up, {"ATMSIM_SWITCH_LEDGER_DEADLINE": "0"},
         "switch.ledger_deadline"),
        ("unknown framing", up, {"ATMSIM_SWITCH_FRAMING": "abc"},
         "switch.framing from ATMSIM_SWITCH_FRAMING: 'abc' is not one of 2be, 2be-incl, 4ascii"),
        ("unknown broker", up, {"ATMSIM_MQTT_BROKER": "rabbit"},
         "mqtt.broker from ATMSIM_MQTT_BROKER: 'rabbit' is not one of auto, mosquitto, nats, amqtt"),
        ("unknown broker flag", [*up, "--broker", "rabbit"], {},
         "atmsim up: error: argument --broker: invalid choice"),
        ("no ledger workers", up, {"ATMSIM_LEDGER_WORKERS": "0"}, "ledger.workers"),
        ("unknown log level", [*up, "--log-level", "loud"], {}, "log_level from --log-level"),
        ("malformed TOML", [*up, "--config", str(bad_toml)], {}, f"config file {bad_toml}"),
        ("config file missing", [*up, "--config", str(tmp / "none.toml")], {},
         f"cannot read config file {tmp / 'none.toml'}"),
        ("config file missing, from the environment", up,
         {"ATMSIM_CONFIG": str(tmp / "none.toml")}, "cannot read config file"),
        ("web port = switch port", ["demo", "--web", "--web-port", "8583"], {},
         "switch and web ATM are both set to port 8583"),
        ("same port twice", [*up, "--switch-port", str(taken + 1), "--hsm-port",
                             str(taken + 1)], {},
         f"switch and HSM are both set to port {taken + 1}"),
        ("load: no ATMs", ["load", "--atms", "0", "--switch", "127.0.0.1:1"], {},
         "--atms 0: must be at least 1"),
        ("load: report directory missing", ["load", "--json", "/nonexistent/dir/x.json",
                                            "--switch", "127.0.0.1:1", "--count", "1"], {},
         "--json /nonexistent/dir/x.json: directory /nonexistent/dir does not exist"),
        ("load: report path is a directory", ["load", "--json", str(tmp), "--switch",
                                              "127.0.0.1:1"], {}, "is a directory"),
        ("load: negative duration", ["load", "--duration", "-5", "--switch", "127.0.0.1:1"],
         {}, "--duration -5.0: must be above 0"),
        ("ATM terminal ID", ["atm", "--terminal", "XYZ", "--data-dir", str(tmp / "atm")], {},
         "atm.terminal_id from --terminal"),
        ("HSM alone, port taken", ["hsm", "--hsm-port", str(taken)], {},
         f"HSM cannot listen on 127.0.0.1:{taken}: address already in use"),
        ("broker alone, port taken", ["broker", "--mqtt-port", str(taken), "--data-dir",
                                      str(tmp / "broker")], {},
         f"broker cannot listen on 127.0.0.1:{taken}: address already in use"),
        ("switch alone, port taken", ["switch", "--switch-port", str(taken), "--data-dir",
                                      str(tmp / "switch")], {},
         f"switch cannot listen on 127.0.0.1:{taken}: address already in use"),
        # argparse's own errors: one line too, ``atmsim <command>: error: ...``.
        ("flag not a number", ["up", "--switch-port", "abc"], {},
         "atmsim up: error: argument --switch-port: invalid int value: 'abc'"),
        ("unknown flag", ["inquire", *PAN, "--colour"], {},
         "error: unrecognized arguments: --colour"),
        ("required flag missing", ["inquire", "--pin", "123456"], {},
         "atmsim inquire: error: the following arguments are required: --pan"),
        # No --pin and nothing to read it from (the keyboard is asked only on a terminal).
        ("no PIN at all", ["inquire", "--pan", "5264220000100010"], {},
         "atmsim: --pin: no PIN given (standard input is empty)"),
        ("unknown command", ["frobnicate"], {}, "atmsim: error: argument COMMAND"),
        ("no command", [], {}, "atmsim: error: the following arguments are required"),
    ]


async def test_every_user_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    taken = free_port()
    with port_taken(taken):
        cases = _cases(tmp_path, taken)
        slots = asyncio.Semaphore(4)

        async def one(args: list[str], env: dict[str, str]) -> Finished:
            async with slots:
                return await run_atmsim(*args, env=env, timeout=20)

        runs = await asyncio.gather(*(one(args, env) for _, args, env, _ in cases))
    wrong = []
    for (label, args, env, words), run in zip(cases, runs, strict=True):
        lines = run.stderr_lines
        if not (run.code == 2 and len(lines) == 1 and words in lines[0]
                and lines[0].startswith("atmsim") and "Traceback" not in run.stderr):
            wrong.append(f"{label}: {args} {env} -> exit {run.code}, stderr {run.stderr!r}")
    assert not wrong, "\n".join(wrong)
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
async def test_a_read_only_parent_directory(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        run = await run_atmsim("up", "--data-dir", str(parent / "data"), timeout=20)
    finally:
        parent.chmod(0o755)
    assert run.code == 2 and len(run.stderr_lines) == 1, run.stderr
    assert "cannot be created: permission denied" in run.stderr
