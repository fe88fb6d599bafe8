"""The one configuration loader: defaults, then a TOML file, then ``ATMSIM_*`` variables,
then command-line flags, each overriding the one before.

Every default is written down here, where it is set. A TOML file uses the section and key
names of the dataclasses below::

    data_dir = "/var/lib/atmsim"
    [switch]
    port = 8583
    hsm_deadline = 2.0

Environment variables name a section and a key: ``ATMSIM_SWITCH_PORT=9583``,
``ATMSIM_MQTT_URL=mqtt://broker:1883``; ``ATMSIM_DATA_DIR`` sets the data directory.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["Settings", "SwitchSettings", "HsmSettings", "MqttSettings", "LedgerSettings",
           "AtmSettings",
           "ConfigError", "load_settings", "default_data_dir", "parse_hostport"]


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message says which and why."""


def parse_hostport(text: str, flag: str = "--switch") -> tuple[str, int]:
    """``HOST:PORT`` to its parts (an empty host is loopback); ``ConfigError`` otherwise.

    >>> parse_hostport("127.0.0.1:8583")
    ('127.0.0.1', 8583)
    >>> parse_hostport("[::1]:8583")
    ('::1', 8583)
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{flag} {text!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("atmsim", appauthor=False))


@dataclass
class SwitchSettings:
    host: str = "127.0.0.1"
    port: int = 8583
    hsm_deadline: float = 2.0  # seconds the switch waits for the HSM before answering 91
    ledger_deadline: float = 5.0  # seconds it waits for the ledger over MQTT before 91
    max_frame: int = 4096  # bytes; a longer length header closes that connection
    max_in_flight: int = 256  # requests processed at once per ATM connection
    max_pending: int = 1000  # inquiries in progress switch-wide; one more is answered 91
    pin_tries: int = 3  # consecutive wrong PINs that block a card
    framing: str = "2be"  # 2-byte big-endian length; also "2be-incl" and "4ascii"


@dataclass
class HsmSettings:
    host: str = "127.0.0.1"
    port: int = 1500
    header_len: int = 4
    lmk_file: str = ""  # empty: the published Thales test LMK


@dataclass
class MqttSettings:
    url: str = ""  # empty: start the embedded broker on host:port below
    host: str = "127.0.0.1"
    port: int = 1883
    broker: str = "auto"  # embedded broker: auto (mosquitto if on PATH, else amqtt)
    protocol: str = "auto"  # "5", "3.1.1" or auto (5, falling back to 3.1.1)
    shared_subscriptions: str = "auto"  # "yes", "no", auto (no on amqtt)
    client: str = "atmsim"  # MQTT client: "atmsim" (lean, the default) or "aiomqtt"
    # The account on a broker given by url, when the URL names none (a URL's user:password
    # wins). Empty: the data directory's own embedded broker's accounts, if url is it.
    username: str = ""
    password: str = ""
    ca_file: str = ""  # mqtts:// only: a PEM CA to trust instead of the system's


@dataclass
class LedgerSettings:
    workers: int = 1
    db: str = ""  # empty: SQLite file ledger.db in the data directory


@dataclass
class AtmSettings:
    terminal_id: str = "BNI00001"
    idle_timeout: float = 30.0  # seconds without a key, then "do you need more time?"
    more_time_timeout: int = 15  # seconds the question waits for an answer
    take_card_timeout: float = 30.0  # seconds before a card not taken is retained
    host_timeout: float = 30.0  # seconds the ATM waits for the switch
    web_port: int = 8000  # atmsim demo --web


@dataclass
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    log_level: str = "INFO"
    switch: SwitchSettings = field(default_factory=SwitchSettings)
    hsm: HsmSettings = field(default_factory=HsmSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    atm: AtmSettings = field(default_factory=AtmSettings)

    @property
    def mqtt_is_embedded(self) -> bool:
        return not self.mqtt.url


_SECTIONS = ("switch", "hsm", "mqtt", "ledger", "atm")


def _coerce(value: Any, current: Any, name: str) -> Any:
    kind = type(current)
    try:
        if isinstance(current, Path):
            return Path(value).expanduser()
        if kind is bool:
            return str(value).lower() in ("1", "true", "yes", "on")
        if kind in (int, float):
            return kind(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a valid {kind.__name__}") from None


def _apply(settings: Settings, values: Mapping[str, Any], origin: str) -> None:
    for key, value in values.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{origin}: [{key}] must be a table")
            section = getattr(settings, key)
            for sub, subvalue in value.items():
                if not hasattr(section, sub):
                    raise ConfigError(f"{origin}: unknown setting {key}.{sub}")
                setattr(section, sub, _coerce(subvalue, getattr(section, sub), f"{key}.{sub}"))
        elif key in ("data_dir", "log_level"):
            setattr(settings, key, _coerce(value, getattr(settings, key), key))
        else:
            raise ConfigError(f"{origin}: unknown setting {key}")


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith("ATMSIM_"):
            continue
        rest = name[len("ATMSIM_"):].lower()
        if rest in ("data_dir", "log_level"):
            values[rest] = value
            continue
        for section in _SECTIONS:
            if rest.startswith(section + "_"):
                sub = rest[len(section) + 1:]
                if sub in {f.name for f in dataclasses.fields(SECTION_TYPES[section])}:
                    values.setdefault(section, {})[sub] = value
    return values


SECTION_TYPES = {"switch": SwitchSettings, "hsm": HsmSettings, "mqtt": MqttSettings,
                 "ledger": LedgerSettings, "atm": AtmSettings}


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  overrides: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings: defaults < TOML file < environment < overrides (CLI flags).

    ``overrides`` uses the TOML shape; ``None`` values are ignored so that unset flags
    do not hide a file or an environment value.
    """
    env = os.environ if env is None else env
    settings = Settings()
    path = config_file or env.get("ATMSIM_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                _apply(settings, tomllib.load(fh), str(path))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    _apply(settings, _from_env(env), "environment")
    if overrides:
        cleaned: dict[str, Any] = {}
        for key, value in overrides.items():
            if isinstance(value, Mapping):
                sub = {k: v for k, v in value.items() if v is not None}
                if sub:
                    cleaned[key] = sub
            elif value is not None:
                cleaned[key] = value
        _apply(settings, cleaned, "command line")
    return settings
