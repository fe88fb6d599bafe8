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
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from atmsim.kernel.wire import Framing, WireProfile
from atmsim.kernel.wire.profile_file import ProfileError, load_profile
from atmsim.shell.errors import UserError
from terminal_ui.device.clock import terminal_zone
from terminal_ui.device.config import AtmConfig

__all__ = ["Settings", "SwitchSettings", "HsmSettings", "MqttSettings", "LedgerSettings",
           "AtmSettings", "LogSettings", "PortalSettings",
           "WhatsappSettings", "SmsSettings", "SmscSettings",
           "OtelSettings",
           "ConfigError", "load_settings", "default_data_dir", "parse_hostport", "check_value",
           "choices", "at_least", "between", "rule", "settings_env"]


class ConfigError(UserError, ValueError):
    """A configuration value that cannot be used; the message says which and where from."""


# -- rules ----------------------------------------------------------------------------
# A setting's rule is declared with the setting, as dataclass field metadata
# (``field(default=..., metadata=choices(...))``). Settings without one get the rule their
# name implies (``GENERIC_RULES``), so a port or a timeout added later is checked too.

Check = Callable[[Any], str | None]  # the reason a value is refused, or None


def rule(check: Check) -> dict[str, Check]:
    """Field metadata: ``check(value)`` returns why a value is refused, or None."""
    return {"check": check}


def choices(*allowed: str, fold_case: bool = False) -> dict[str, Check]:
    def check(value: Any) -> str | None:
        seen = str(value).upper() if fold_case else value
        if seen in allowed:
            return None
        return f"{value!r} is not one of {', '.join(allowed)}"
    return rule(check)


def between(low: float, high: float, what: str = "") -> dict[str, Check]:
    def check(value: Any) -> str | None:
        if low <= value <= high:
            return None
        return f"{value!r} is outside {low:g}-{high:g}" + (f" ({what})" if what else "")
    return rule(check)


def at_least(low: float) -> dict[str, Check]:
    return between(low, math.inf)


def _above_zero(value: Any) -> str | None:
    return None if value > 0 else f"{value!r} must be above 0 (seconds)"


def _port(value: Any) -> str | None:
    return None if 1 <= value <= 65535 else f"{value!r} is not a TCP port (1-65535)"


# By name, for settings that declare no rule of their own: (suffix or exact name, check).
GENERIC_RULES: tuple[tuple[Callable[[str], bool], Check], ...] = (
    (lambda name: name == "port" or name.endswith("_port"), _port),
    (lambda name: name.endswith("timeout") or name.endswith("deadline"), _above_zero),
)


def _mqtt_url(value: Any) -> str | None:
    if not value:
        return None  # the embedded broker
    from atmsim.kernel.bus import parse_mqtt_url

    try:
        parse_mqtt_url(value)
    except ValueError as exc:
        return str(exc)
    return None


def _terminal_id(value: Any) -> str | None:
    # Field 41 is ans 8: exactly eight printable ASCII characters.
    if len(value) == 8 and value.isascii() and value.isprintable():
        return None
    return f"{value!r}: a terminal ID (field 41) is 8 characters, e.g. BNI00001"


def _wire_profile(value: Any) -> str | None:
    try:
        load_profile(value)
    except ProfileError as exc:
        return str(exc)
    return None


def _framing(value: Any) -> str | None:
    kinds = ("2be", "2be-incl", "4ascii")
    return None if value in ("", *kinds) else f"{value!r} is not one of {', '.join(kinds)}"


def _otel_url(value: Any) -> str | None:
    if not value:
        return None  # tracing off
    from atmsim.shell.otel import check_otel_url

    return check_otel_url(value)


def _not_empty(value: Any) -> str | None:
    return None if str(value).strip() else "must not be empty"


def _listen_address(value: Any) -> str | None:
    """Empty (off) or ``HOST:PORT``: where a part serves its Prometheus metrics."""
    if not value:
        return None
    try:
        parse_hostport(value)
    except ConfigError:
        return f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:9101), or empty for off"
    return None


def check_value(section_type: type | None, name: str, value: Any) -> str | None:
    """Why ``value`` cannot be setting ``name`` (of the dataclass ``section_type``, or a
    top-level setting when None), or None when it can."""
    fields = {f.name: f for f in dataclasses.fields(section_type or Settings)}
    declared = fields[name].metadata.get("check") if name in fields else None
    if declared is not None:
        return declared(value)  # type: ignore[no-any-return]
    for matches, check in GENERIC_RULES:
        if matches(name):
            return check(value)
    return None


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
    host: str = field(default="127.0.0.1", metadata=rule(_not_empty))
    port: int = 8583
    hsm_deadline: float = 2.0  # seconds the switch waits for the HSM before answering 91
    ledger_deadline: float = 5.0  # seconds it waits for the ledger over MQTT before 91
    # bytes; a longer length header closes that connection
    max_frame: int = field(default=4096, metadata=between(1, 65535))
    # requests processed at once per ATM connection
    max_in_flight: int = field(default=256, metadata=at_least(1))
    # inquiries in progress switch-wide; one more is answered 91
    max_pending: int = field(default=1000, metadata=at_least(1))
    pin_tries: int = field(default=3, metadata=between(1, 99))  # wrong PINs that block a card
    # ISO 8583 wire profile of the ATM link, switch and clients alike: a shipped one
    # (default, bcd-binary, ebcdic) or a profile file (docs/profiles.md)
    profile: str = field(default="default", metadata=rule(_wire_profile))
    # length header; empty: the profile's (default's: 2be, 2-byte big-endian length).
    # Also "2be", "2be-incl" and "4ascii"
    framing: str = field(default="", metadata=rule(_framing))
    idle_timeout: float = 300.0  # seconds without a new frame, then the connection is closed
    frame_timeout: float = 30.0  # seconds a started frame may take to arrive in full
    # ATM connections at once; one more is closed at once
    max_connections: int = field(default=2000, metadata=between(1, 1_000_000))
    # seconds a TPK or TAK replaced by a key change still verifies
    key_grace: float = field(default=300.0, metadata=between(0, 30 * 86400))
    # seconds between bank-initiated key changes of every connected ATM; 0: never
    key_change_interval: float = field(default=0.0, metadata=between(0, 365 * 86400))
    rules: str = ""  # a rules file (docs/rules.md); empty: no rules, the usual answers
    # sen charged per approved balance inquiry (field 28 of the 0210); a reversal refunds it
    inquiry_fee: int = field(default=0, metadata=between(0, 99_999_999, "sen, field 28 is n8"))
    # days the transaction journal keeps inquiries and reversals (what an 0420 can match)
    journal_days: float = field(default=7.0, metadata=between(0.001, 3650, "days"))
    # the card store: empty, cards.db in the data directory; or a SQLite file, sqlite:///path
    # or a postgresql:// URL that several switches share (docs/scaling.md)
    cards_db: str = ""

    # TLS on the ATM listener (docs/security.md): a PEM certificate chain and its key.
    # Empty: plain TCP, as ATMs on a private line speak.
    tls_cert: str = ""
    tls_key: str = ""  # empty: the key is in tls_cert's file
    # A PEM CA whose client certificates are verified when an ATM presents one
    tls_client_ca: str = ""
    tls_require_client_cert: bool = False  # true: mutual TLS, an ATM without one is refused
    # seconds a TLS handshake may take, then the connection is closed
    tls_handshake_timeout: float = 10.0
    # HOST:PORT of the switch's Prometheus /metrics (docs/observability.md); empty: off
    metrics: str = field(default="", metadata=rule(_listen_address))

    def wire(self) -> tuple[WireProfile, Framing]:
        """The wire profile and the framing every part on the ATM link speaks."""
        profile = load_profile(self.profile)  # checked when the setting was set
        return profile, Framing(self.framing or profile.framing, self.max_frame)


@dataclass
class HsmSettings:
    host: str = field(default="127.0.0.1", metadata=rule(_not_empty))
    port: int = 1500
    header_len: int = field(default=4, metadata=between(0, 255))
    lmk_file: str = ""  # empty: the published Thales test LMK
    # Security settings (docs/hsm.md "Security settings"), factory payShield values:
    # "Single/double length ZMKs": D reads a bare 32H ZMK, S a bare 16H one
    zmk_length: str = field(default="D", metadata=choices("S", "D", fold_case=True))
    # X/Y-tagged keys under the LMK read as bare cryptograms (ThalesSimulator, jPOS); off: 26
    x917_under_lmk: bool = False
    single_des: bool = True  # "Enable single-DES": off answers 26 for 16H keys
    rules: str = ""  # a rules file (docs/rules.md); empty: no rules
    # HOST:PORT of the HSM's Prometheus /metrics (docs/observability.md); empty: off
    metrics: str = field(default="", metadata=rule(_listen_address))


@dataclass
class MqttSettings:
    # empty: start the embedded broker on host:port below
    url: str = field(default="", metadata=rule(_mqtt_url))
    host: str = field(default="127.0.0.1", metadata=rule(_not_empty))
    port: int = 1883
    # embedded broker: auto (mosquitto if on PATH, else nats-server from pip), or amqtt
    broker: str = field(default="auto", metadata=choices("auto", "mosquitto", "nats", "amqtt"))
    # "5", "3.1.1" or auto (5, falling back to 3.1.1)
    protocol: str = field(default="auto", metadata=choices("auto", "5", "3.1.1"))
    # "yes", "no", auto (no on nats and amqtt)
    shared_subscriptions: str = field(default="auto", metadata=choices("auto", "yes", "no"))
    # MQTT client: "atmsim" (lean, the default), "aiomqtt" or "gmqtt"
    client: str = field(default="atmsim", metadata=choices("atmsim", "aiomqtt", "gmqtt"))
    # The account on a broker given by url, when the URL names none (a URL's user:password
    # wins). Empty: the data directory's own embedded broker's accounts, if url is it.
    username: str = ""
    password: str = ""
    ca_file: str = ""  # mqtts:// only: a PEM CA to trust instead of the system's
    # QoS of the requests to the ledger (replies come back at the same): 0, at most once
    # (a lost one is asked again, then 91), or 1 (docs/architecture.md, "Requests at QoS 0")
    request_qos: int = field(default=0, metadata=between(0, 1))


@dataclass
class LedgerSettings:
    workers: int = field(default=1, metadata=between(1, 256))
    db: str = ""  # empty: SQLite file ledger.db in the data directory
    rules: str = ""  # a rules file (docs/rules.md); empty: no rules
    # HOST:PORT of the ledger's Prometheus /metrics (docs/observability.md); empty: off
    metrics: str = field(default="", metadata=rule(_listen_address))


@dataclass
class PortalSettings:
    """The ``[portal]`` settings: the JMO/SSO web portal (docs/channels.md)."""

    host: str = field(default="127.0.0.1", metadata=rule(_not_empty))
    port: int = 8080
    db: str = ""  # empty: the SQLite file portal/portal.db in the data directory
    # host:port of the SMTP server verification mails go to; empty: the embedded mail sink
    smtp: str = ""
    mail_port: int = 8025  # the embedded mail sink's port (on host)
    # the portal's address in the links it mails; empty: http://host:port
    public_url: str = ""
    # failed logins in a row that lock an account, and for how many minutes
    max_failed_logins: int = field(default=5, metadata=between(1, 100))
    lockout_minutes: int = field(default=15, metadata=between(1, 1440))
    # minutes a session may stay idle before it ends
    session_idle_minutes: int = field(default=15, metadata=between(1, 1440))


# The ATM's own defaults: declared once, with the ATM (terminal_ui.device.config).
_ATM = AtmConfig()


def _time_zone(value: Any) -> str | None:
    try:
        terminal_zone(value)
    except ValueError as exc:
        return str(exc).removeprefix("atm.time_zone: ")  # the setting is named by _set
    return None


@dataclass
class AtmSettings:
    """The ``[atm]`` settings: the fields of ``AtmConfig`` a user may set, with its defaults
    (``device_config`` makes the ATM's config of them), and the web ATM's port."""

    terminal_id: str = field(default=_ATM.terminal_id, metadata=rule(_terminal_id))
    idle_timeout: float = _ATM.idle_timeout  # seconds without a key, then "more time?"
    more_time_timeout: int = _ATM.more_time_timeout  # seconds the question waits
    take_card_timeout: float = _ATM.take_card_timeout  # seconds, then the card is retained
    host_timeout: float = _ATM.host_timeout  # seconds the ATM waits for the switch
    # seconds between echo tests (0800, 301) on a quiet link to the switch
    echo_interval: float = field(default=_ATM.echo_interval, metadata=between(1, 3600))
    # echo tests in a row that may fail or time out before the ATM reconnects
    echo_failures: int = field(default=_ATM.echo_failures, metadata=between(1, 100))
    # seconds: the longest wait between reconnection attempts (the backoff's ceiling)
    reconnect_max: float = field(default=_ATM.reconnect_max, metadata=between(0.1, 3600))
    # TLS to the switch (also atmsim inquire and atmsim load): tls = true, and tls_ca the
    # PEM CA to trust (empty: the system's); tls_cert/tls_key: a client certificate
    tls: bool = _ATM.tls
    tls_ca: str = _ATM.tls_ca
    tls_cert: str = _ATM.tls_cert
    tls_key: str = _ATM.tls_key
    # the name the switch's certificate must carry (empty: the host the ATM connects to)
    tls_server_name: str = _ATM.tls_server_name
    # MAC the ATM's 0200/0420 under its TAK and check the switch's MACs (docs/wire.md "MAC")
    mac: bool = _ATM.mac
    # ask the switch for the hop timings of each inquiry (field 63), shown in the wire panel
    hop_timings: bool = _ATM.hop_timings
    web_port: int = 8000  # atmsim demo --web: the web server's, not the ATM's
    # IANA zone of fields 12/13, the receipt and the clock
    time_zone: str = field(default=_ATM.time_zone, metadata=rule(_time_zone))

    def device_config(self, host: str, port: int, receipts_dir: Path) -> AtmConfig:
        """The ATM's configuration: these settings, the switch at ``host:port``."""
        mine = {f.name for f in dataclasses.fields(AtmConfig)}
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name in mine}
        return AtmConfig(host=host, port=port, receipts_dir=receipts_dir, **shared)


@dataclass
class LogSettings:
    # A file every command logs to. Empty: the full-screen ATM and demo log to
    # <data dir>/logs/atmsim.log, the other commands to stderr.
    file: str = ""
    # a log file is rotated when it reaches this size
    max_bytes: int = field(default=10 * 1024 * 1024, metadata=at_least(4096))
    # rotated files kept next to it (atmsim.log.1 ... .5)
    backups: int = field(default=5, metadata=between(0, 1000))
    # seconds one kind of warning is logged at most once per
    repeat_interval: float = field(default=60.0, metadata=between(0.001, 86400))
    # "text" (one line a record) or "json" (one JSON object a line; docs/observability.md)
    format: str = field(default="text", metadata=choices("text", "json"))


@dataclass
class WhatsappSettings:
    """``atmsim whatsapp`` (docs/channels.md, "WhatsApp"). Empty secrets: generated once
    per data directory (``whatsapp/secrets.json``, mode 0600)."""

    host: str = field(default="127.0.0.1", metadata=rule(_not_empty))
    port: int = 8780  # the bot's webhook (POST/GET /webhook)
    graph_url: str = ""  # empty: the simulated Graph API, started alongside
    graph_port: int = 8781  # the simulated Graph API's port
    api_version: str = field(default="v21.0", metadata=rule(_not_empty))
    phone_number_id: str = field(default="106540352242922", metadata=rule(_not_empty))
    app_secret: str = ""
    verify_token: str = ""
    access_token: str = ""
    rate_per_minute: int = field(default=20, metadata=between(1, 10_000))
    session_idle: float = field(default=600.0, metadata=between(1, 86400))
    max_body: int = field(default=64 * 1024, metadata=between(1024, 16 * 1024 * 1024))
    ledger_deadline: float = 5.0  # seconds the bot waits for the ledger


@dataclass
class SmsSettings:
    """``[sms]``: the SMS 2757 gateway (``atmsim sms gateway``) and where it binds."""

    smsc_host: str = field(default="127.0.0.1", metadata=rule(_not_empty))
    smsc_port: int = 2775  # the SMSC's SMPP port (2775 is SMPP's usual one)
    system_id: str = field(default="bpjs2757", metadata=rule(_not_empty))
    # empty: the password of system_id in <data dir>/smsc/credentials.json (our SMSC)
    password: str = ""
    system_type: str = ""
    short_code: str = field(default="2757", metadata=rule(_not_empty))
    # long replies: "udh" (a header in the message, esm_class 0x40) or "sar" (sar_* TLVs)
    concatenation: str = field(default="udh", metadata=choices("udh", "sar"))
    ledger_deadline: float = 5.0  # seconds the gateway waits for the ledger
    per_minute: int = field(default=5, metadata=between(1, 10_000))  # commands per number
    # failed attempts (data mismatch, someone else's KPJ/NIK) per number in 24 hours
    failures_per_day: int = field(default=5, metadata=between(1, 10_000))
    enquire_interval: float = 30.0  # seconds between enquire_link on a quiet bind


@dataclass
class SmscSettings:
    """``[smsc]``: the simulated SMSC (``atmsim sms smsc``)."""

    host: str = field(default="127.0.0.1", metadata=rule(_not_empty))
    port: int = 2775
    system_id: str = field(default="ATMSIM", metadata=rule(_not_empty))  # in bind responses


@dataclass
class OtelSettings:
    """The ``[otel]`` settings: distributed tracing (docs/tracing.md)."""

    # the OTLP/HTTP collector spans are sent to (e.g. http://127.0.0.1:4318); empty: off
    url: str = field(default="", metadata=rule(_otel_url))


@dataclass
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    log_level: str = field(default="INFO", metadata=choices(
        "DEBUG", "INFO", "WARNING", "ERROR", fold_case=True))
    switch: SwitchSettings = field(default_factory=SwitchSettings)
    hsm: HsmSettings = field(default_factory=HsmSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    atm: AtmSettings = field(default_factory=AtmSettings)
    log: LogSettings = field(default_factory=LogSettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    whatsapp: WhatsappSettings = field(default_factory=WhatsappSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    smsc: SmscSettings = field(default_factory=SmscSettings)
    otel: OtelSettings = field(default_factory=OtelSettings)

    @property
    def mqtt_is_embedded(self) -> bool:
        return not self.mqtt.url


_SECTIONS = ("switch", "hsm", "mqtt", "ledger", "atm", "log", "portal", "whatsapp", "sms",
             "smsc", "otel")


_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false",
               str: "text", Path: "a path"}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _coerce(value: Any, current: Any) -> Any:
    """``value`` (TOML, environment text or a flag) as the type of the default ``current``;
    ValueError when it is not one."""
    kind = type(current)
    if isinstance(current, Path):
        return Path(str(value)).expanduser()
    if kind is bool:
        text = str(value).lower()
        if isinstance(value, bool) or text in _TRUE + _FALSE:
            return value if isinstance(value, bool) else text in _TRUE
        raise ValueError
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError  # TOML true or 1.5 for a count: a mistake, not 1
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if not math.isfinite(number):
            raise ValueError
        return number
    if isinstance(value, (Mapping, list)):
        raise ValueError
    return str(value)


def _set(target: Any, section_type: type | None, name: str, value: Any, where: str) -> None:
    current = getattr(target, name)
    try:
        coerced = _coerce(value, current)
    except (TypeError, ValueError):
        kind = Path if isinstance(current, Path) else type(current)
        raise ConfigError(f"{where}: {value!r} is not {_KIND_NAMES.get(kind, kind.__name__)}"
                          ) from None
    why = check_value(section_type, name, coerced)
    if why is not None:
        raise ConfigError(f"{where}: {why}")
    setattr(target, name, coerced)


def _apply(settings: Settings, values: Mapping[str, Any], origin: str,
           where: Callable[[str], str]) -> None:
    """Set ``values`` (the TOML shape) on ``settings``; ``where("switch.port")`` names the
    setting and where it came from, for the one-line error."""
    for key, value in values.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{origin}: [{key}] must be a table")
            section = getattr(settings, key)
            for sub, subvalue in value.items():
                if not hasattr(section, sub):
                    raise ConfigError(f"{origin}: unknown setting {key}.{sub}")
                _set(section, SECTION_TYPES[key], sub, subvalue, where(f"{key}.{sub}"))
        elif key in ("data_dir", "log_level"):
            _set(settings, None, key, value, where(key))
        else:
            raise ConfigError(f"{origin}: unknown setting {key}")


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``ATMSIM_*`` settings in the TOML shape, and each one's variable name."""
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith("ATMSIM_"):
            continue
        rest = name[len("ATMSIM_"):].lower()
        if rest in ("data_dir", "log_level"):
            values[rest] = value
            names[rest] = name
            continue
        for section in _SECTIONS:
            if rest.startswith(section + "_"):
                sub = rest[len(section) + 1:]
                if sub in {f.name for f in dataclasses.fields(SECTION_TYPES[section])}:
                    values.setdefault(section, {})[sub] = value
                    names[f"{section}.{sub}"] = name
    return values, names


SECTION_TYPES = {"switch": SwitchSettings, "hsm": HsmSettings, "mqtt": MqttSettings,
                 "ledger": LedgerSettings, "atm": AtmSettings, "log": LogSettings,
                 "portal": PortalSettings, "whatsapp": WhatsappSettings,
                 "sms": SmsSettings, "smsc": SmscSettings, "otel": OtelSettings}


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  overrides: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None, *,
                  override_names: Mapping[str, str] | None = None) -> Settings:
    """Build the settings: defaults < TOML file < environment < overrides (CLI flags).

    ``overrides`` uses the TOML shape; ``None`` values are ignored so that unset flags
    do not hide a file or an environment value. Every value is checked as it is applied
    (``check_value``): a bad one is a ``ConfigError`` naming the setting and its source,
    the flag in ``override_names`` (``{"switch.port": "--switch-port"}``) for an override.
    """
    env = os.environ if env is None else env
    settings = Settings()
    path = config_file or env.get("ATMSIM_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                document = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        _apply(settings, document, str(path), lambda key: f"{key} in {path}")
    values, names = _from_env(env)
    _apply(settings, values, "environment", lambda key: f"{key} from {names[key]}")
    if overrides:
        cleaned: dict[str, Any] = {}
        for key, value in overrides.items():
            if isinstance(value, Mapping):
                sub = {k: v for k, v in value.items() if v is not None}
                if sub:
                    cleaned[key] = sub
            elif value is not None:
                cleaned[key] = value
        flags = override_names or {}
        _apply(settings, cleaned, "command line",
               lambda key: f"{key} from {flags.get(key, 'the command line')}")
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting as the ``ATMSIM_*`` variable that sets it: a child process given these
    (and no ``ATMSIM_CONFIG``) loads exactly ``settings``, wherever each value came from.
    The supervisor starts each part so (``atmsim.shell.supervisor``); variables, not
    flags, keep a password in ``mqtt.url`` out of ``ps``.

    >>> s = load_settings(env={}, overrides={"switch": {"port": 9583, "pin_tries": 5,
    ...                                                 "tls_require_client_cert": True}})
    >>> env = settings_env(s)
    >>> env["ATMSIM_SWITCH_PORT"], env["ATMSIM_SWITCH_TLS_REQUIRE_CLIENT_CERT"]
    ('9583', 'true')
    >>> load_settings(env=env) == s
    True
    """
    env = {"ATMSIM_DATA_DIR": str(settings.data_dir), "ATMSIM_LOG_LEVEL": settings.log_level}
    for section in _SECTIONS:
        values = getattr(settings, section)
        for f in dataclasses.fields(values):
            value = getattr(values, f.name)
            text = ("true" if value else "false") if isinstance(value, bool) else (
                repr(value) if isinstance(value, float) else str(value))
            env[f"ATMSIM_{section.upper()}_{f.name.upper()}"] = text
    return env
