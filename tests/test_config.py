"""Settings: defaults < TOML file < ATMSIM_* environment < command-line flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from atmsim.shell.config import ConfigError, load_settings


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "atmsim.toml"
    config.write_text('data_dir = "/srv/atmsim"\n[switch]\nport = 9000\nhsm_deadline = 1.5\n'
                      '[mqtt]\nurl = "mqtt://broker:1884"\n')
    settings = load_settings(config, env={"ATMSIM_SWITCH_PORT": "9100"},
                             overrides={"switch": {"port": None}, "hsm": {"port": 1600}})
    assert settings.switch.port == 9100          # environment over file; None flag ignored
    assert settings.switch.hsm_deadline == 1.5   # file over default
    assert settings.hsm.port == 1600             # flag over default
    assert settings.mqtt.url == "mqtt://broker:1884"
    assert settings.data_dir == Path("/srv/atmsim")
    assert settings.switch.ledger_deadline == 5.0


@pytest.mark.parametrize("content, env, message", [
    ("[switch]\nport = 'x'\n", {}, "switch.port"),
    ("[switch]\nbogus = 1\n", {}, "unknown setting switch.bogus"),
    ("not toml = = =", {}, "config file"),
    ("", {"ATMSIM_HSM_PORT": "fifteen"}, "hsm.port"),
])
def test_bad_settings_say_which(tmp_path: Path, content: str, env: dict[str, str],
                                message: str) -> None:
    config = tmp_path / "atmsim.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, env=env)


def test_metrics_addresses_and_log_format(tmp_path: Path) -> None:
    config = tmp_path / "atmsim.toml"
    config.write_text('[switch]\nmetrics = "127.0.0.1:9101"\n[log]\nformat = "json"\n')
    settings = load_settings(config, env={"ATMSIM_LEDGER_METRICS": "0.0.0.0:9103"})
    assert (settings.switch.metrics, settings.hsm.metrics, settings.ledger.metrics) == (
        "127.0.0.1:9101", "", "0.0.0.0:9103")
    assert settings.log.format == "json"
    with pytest.raises(ConfigError, match=r"hsm\.metrics from ATMSIM_HSM_METRICS: '9102' is "
                       r"not HOST:PORT"):
        load_settings(env={"ATMSIM_HSM_METRICS": "9102"})
    with pytest.raises(ConfigError, match=r"log\.format"):
        load_settings(env={"ATMSIM_LOG_FORMAT": "xml"})


def test_up_metrics_flag_puts_the_hsm_and_ledger_on_the_next_ports() -> None:
    from atmsim.shell.cli import build_parser, stack_settings_from
    from atmsim.shell.errors import UserError

    args = build_parser().parse_args(["up", "--metrics", "127.0.0.1:9101"])
    settings = stack_settings_from(args)
    assert (settings.switch.metrics, settings.hsm.metrics, settings.ledger.metrics) == (
        "127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103")
    with pytest.raises(UserError, match="PORT\\+2"):
        stack_settings_from(build_parser().parse_args(["up", "--metrics", "127.0.0.1:65534"]))
def test_otel_url_from_file_environment_and_flag(tmp_path: Path) -> None:
    config = tmp_path / "atmsim.toml"
    config.write_text('[otel]\nurl = "http://collector:4318"\n')
    assert load_settings(config, env={}).otel.url == "http://collector:4318"
    assert load_settings(config, env={"ATMSIM_OTEL_URL": "https://c.example/v1/traces"}
                         ).otel.url == "https://c.example/v1/traces"
    assert load_settings(config, env={}, overrides={"otel": {"url": "http://127.0.0.1:1"}}
                         ).otel.url == "http://127.0.0.1:1"
    assert load_settings(env={}).otel.url == ""  # off by default
    with pytest.raises(ConfigError, match=r"otel.url in .*'grpc://c:4317' is not an http"):
        config.write_text('[otel]\nurl = "grpc://c:4317"\n')
        load_settings(config, env={})
