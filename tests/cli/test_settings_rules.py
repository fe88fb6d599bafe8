"""Settings are checked where they are declared, and a setting added later is covered by
the rule its name implies (``port`` / ``*_port``, ``*timeout`` / ``*deadline``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from atmsim.shell.config import (
    SECTION_TYPES,
    ConfigError,
    Settings,
    check_value,
    choices,
    load_settings,
)


@dataclass
class _LaterSection:
    """What another change might add: no rule of its own on any field."""

    admin_port: int = 9000
    port: int = 1
    idle_timeout: float = 300.0
    frame_deadline: float = 30.0
    max_connections: int = 2000
    mode: str = field(default="a", metadata=choices("a", "b"))


@pytest.mark.parametrize("name, bad, good", [
    ("admin_port", 0, 65535), ("admin_port", 65536, 1), ("port", -1, 1883),
    ("idle_timeout", 0.0, 0.5), ("idle_timeout", -1.0, 300.0), ("frame_deadline", -2.0, 1.0),
    ("mode", "c", "b"),
])
def test_rules_by_name_and_declared(name: str, bad: object, good: object) -> None:
    assert check_value(_LaterSection, name, bad) is not None
    assert check_value(_LaterSection, name, good) is None


def test_a_setting_without_a_rule_is_not_refused() -> None:
    assert check_value(_LaterSection, "max_connections", 0) is None


def test_every_declared_port_and_timeout_is_checked() -> None:
    """Every port and timeout the settings have today refuses 0 and accepts its default."""
    names = 0
    for section, kind in SECTION_TYPES.items():
        defaults = kind()
        for f in dataclasses.fields(kind):
            if f.name.endswith("port") or f.name.endswith(("timeout", "deadline")):
                names += 1
                assert check_value(kind, f.name, 0) is not None, f"{section}.{f.name}"
                assert check_value(kind, f.name, getattr(defaults, f.name)) is None
    assert names >= 8


def test_defaults_pass_their_own_rules() -> None:
    settings = Settings()
    for section, kind in SECTION_TYPES.items():
        for f in dataclasses.fields(kind):
            value = getattr(getattr(settings, section), f.name)
            assert check_value(kind, f.name, value) is None, f"{section}.{f.name}"


@pytest.mark.parametrize("toml, words", [
    ("[switch]\nport = 1.5\n", "switch.port in "),
    ("[switch]\nmax_pending = true\n", "is not a whole number"),
    ("[switch]\nhsm_deadline = -0.5\n", "must be above 0"),
    ("[switch]\npin_tries = 0\n", "switch.pin_tries"),
    ("[hsm]\nhost = ''\n", "hsm.host"),
    ("[mqtt]\nprotocol = '4'\n", "mqtt.protocol"),
    ("[atm]\nterminal_id = 'BNI0000123'\n", "atm.terminal_id"),
    ("[atm]\nmore_time_timeout = 0\n", "atm.more_time_timeout"),
    ("[atm]\ntime_zone = 'Mars/Olympus_Mons'\n", "atm.time_zone in "),
    ("[switch]\nport = [1]\n", "switch.port"),
])
def test_bad_toml_values_name_the_setting_and_the_file(tmp_path: Path, toml: str,
                                                        words: str) -> None:
    config = tmp_path / "atmsim.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=str(config).replace(".", r"\.")) as caught:
        load_settings(config, env={})
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_flag_is_named_as_typed() -> None:
    with pytest.raises(ConfigError, match=r"^switch\.port from --switch-port: 70000 is not"):
        load_settings(env={}, overrides={"switch": {"port": 70000}},
                      override_names={"switch.port": "--switch-port"})


def test_the_atm_settings_are_the_atms_own_and_reach_it(tmp_path: Path) -> None:
    """[atm] declares no default of its own: each setting is the ATM's field of that name,
    and what the user sets is what the ATM runs with."""
    from terminal_ui.device.config import AtmConfig

    device = {f.name: f for f in dataclasses.fields(AtmConfig)}
    ours = [f for f in dataclasses.fields(SECTION_TYPES["atm"]) if f.name != "web_port"]
    assert ours and all(f.name in device for f in ours)
    assert all(getattr(Settings().atm, f.name) == getattr(AtmConfig(), f.name) for f in ours)
    config = tmp_path / "atm.toml"
    config.write_text("[atm]\nterminal_id = 'BNI00042'\nidle_timeout = 12.5\n"
                      "more_time_timeout = 7\ntake_card_timeout = 9\nhost_timeout = 4\n"
                      "echo_interval = 90\ntime_zone = 'Asia/Jayapura'\n"
                      "echo_failures = 5\nreconnect_max = 12\ntls = true\n"
                      "tls_ca = 'ca.pem'\ntls_cert = 'atm.pem'\ntls_key = 'atm-key.pem'\n"
                      "tls_server_name = 'switch.bank'\nmac = true\nhop_timings = true\n")
    atm = load_settings(config, env={}).atm
    made = atm.device_config("10.0.0.1", 9583, tmp_path / "receipts")
    assert (made.host, made.port, made.receipts_dir) == ("10.0.0.1", 9583, tmp_path / "receipts")
    assert {f.name: getattr(made, f.name) for f in ours} == {
        "terminal_id": "BNI00042", "idle_timeout": 12.5, "more_time_timeout": 7,
        "take_card_timeout": 9.0, "host_timeout": 4.0, "echo_interval": 90.0,
        "time_zone": "Asia/Jayapura", "echo_failures": 5, "reconnect_max": 12.0, "tls": True,
        "tls_ca": "ca.pem", "tls_cert": "atm.pem", "tls_key": "atm-key.pem",
        "tls_server_name": "switch.bank", "mac": True, "hop_timings": True}
