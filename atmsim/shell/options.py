"""The options every ``atmsim`` command shares, each declared once (its flag, its help and the
setting it overrides), and the one way from parsed arguments to ``Settings``.

A command adds the options it takes with ``add_options(parser, "data_dir", "switch_port")``;
``settings_from(args)`` then reads whichever of them the command has: defaults < TOML
file (``--config``) < ``ATMSIM_*`` < these flags (``atmsim.shell.config.load_settings``),
a bad value reported by the flag the user typed (``switch.port from --switch-port: ...``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atmsim.shell.config import Settings, load_settings

__all__ = ["OPTIONS", "Option", "add_options", "settings_from", "MQTT_URL_HELP"]

MQTT_URL_HELP = ("an MQTT broker (mqtt://[user:password@]host:port, or mqtts:// for TLS) "
                 "instead of the embedded one")


@dataclass(frozen=True)
class Option:
    flag: str
    setting: str | None  # "switch.port": the setting it overrides; None: not a setting
    arguments: dict[str, Any] = field(default_factory=dict)  # argparse's add_argument


OPTIONS: dict[str, Option] = {  # by argparse dest
    "data_dir": Option("--data-dir", "data_dir", {
        "type": Path, "help": "where all state lives "
        "(default: $ATMSIM_DATA_DIR or the per-user data directory)"}),
    "config": Option("--config", None, {"help": "TOML config file (default: $ATMSIM_CONFIG)"}),
    "log_level": Option("--log-level", "log_level", {
        "help": "DEBUG, INFO, WARNING (default INFO; demo: WARNING)"}),
    "log_format": Option("--log-format", "log.format", {
        "choices": ["text", "json"],
        "help": "text, or json: one JSON object a line (default: [log] format, else text)"}),
    "switch_port": Option("--switch-port", "switch.port", {
        "type": int, "help": "switch TCP port (default 8583)"}),
    "hsm_port": Option("--hsm-port", "hsm.port", {
        "type": int, "help": "HSM TCP port (default 1500)"}),
    "hsm_host": Option("--hsm-host", "hsm.host", {"help": "HSM host (default 127.0.0.1)"}),
    "mqtt": Option("--mqtt", "mqtt.url", {"metavar": "URL", "help": MQTT_URL_HELP}),
    "mqtt_ca": Option("--mqtt-ca", "mqtt.ca_file", {
        "metavar": "FILE", "help": "CA certificate (PEM) to trust for an mqtts:// broker"}),
    "mqtt_port": Option("--mqtt-port", "mqtt.port", {
        "type": int, "help": "port of the embedded broker (default 1883)"}),
    "broker": Option("--broker", "mqtt.broker", {
        "choices": ["auto", "mosquitto", "nats", "amqtt"],
        "help": "embedded broker (default auto: mosquitto if installed, else nats)"}),
    "workers": Option("--workers", "ledger.workers", {
        "type": int, "help": "ledger workers sharing the load (default 1)"}),
    "db": Option("--db", "ledger.db", {
        "metavar": "DB", "help": "a SQLite file or a postgresql:// URL (default: "
        "ledger/ledger.db in the data directory)"}),
    "cards_db": Option("--cards-db", "switch.cards_db", {
        "metavar": "DB", "help": "the card store: a SQLite file or a postgresql:// URL "
        "several switches share (default: switch/cards.db in the data directory)"}),
    "lmk_file": Option("--lmk-file", "hsm.lmk_file", {
        "help": "LMK file (default: [hsm] lmk_file, else test LMK)"}),
    "terminal": Option("--terminal", "atm.terminal_id", {
        "help": "terminal ID, field 41 (default BNI00001)"}),
    # One flag, --rules, for each part that takes rules: the command names its part.
    **{f"{part}_rules": Option("--rules", f"{part}.rules", {
        "metavar": "FILE", "help": f"a YAML rules file for the {part} (docs/rules.md); "
        "SIGHUP reloads it"}) for part in ("switch", "hsm", "ledger")},
    # One flag, --metrics, for each part that serves Prometheus metrics; atmsim up and
    # demo take one address for all three (stack_metrics).
    **{f"{part}_metrics": Option("--metrics", f"{part}.metrics", {
        "metavar": "HOST:PORT", "help": f"serve the {name}'s Prometheus metrics at "
        "http://HOST:PORT/metrics (docs/observability.md; default: off)"})
       for part, name in (("switch", "switch"), ("hsm", "HSM"), ("ledger", "ledger"))},
    "stack_metrics": Option("--metrics", None, {
        "metavar": "HOST:PORT", "help": "serve Prometheus metrics: the switch's at "
        "HOST:PORT, the HSM's at PORT+1 and the ledger's at PORT+2, each at /metrics, "
        "unless [hsm] or [ledger] metrics says otherwise (default: [switch] metrics etc., "
        "else off)"}),
    "profile": Option("--profile", "switch.profile", {
        "metavar": "NAME|FILE", "help": "ISO 8583 wire profile: default, bcd-binary, ebcdic "
        "or a profile file (docs/profiles.md; default: [switch] profile, else default)"}),
    "single_process": Option("--single-process", None, {
        "action": "store_true", "help": "run the broker, HSM, ledger and switch in this one "
        "process (default: each its own process, restarted if it dies)"}),
    "web_port": Option("--web-port", "atm.web_port", {
        "type": int, "help": "port of the web ATM (default 8000)"}),
    "portal_host": Option("--host", "portal.host", {
        "help": "address the portal listens on (default 127.0.0.1)"}),
    "portal_port": Option("--port", "portal.port", {
        "type": int, "help": "the portal's HTTP port (default 8080)"}),
    "portal_db": Option("--db", "portal.db", {
        "metavar": "FILE", "help": "the portal's account database (default: "
        "portal/portal.db in the data directory)"}),
    "portal_smtp": Option("--smtp", "portal.smtp", {
        "metavar": "HOST:PORT", "help": "SMTP server for verification mails (default: the "
        "embedded mail sink, read with atmsim mailbox)"}),
    "mail_port": Option("--mail-port", "portal.mail_port", {
        "type": int, "help": "port of the embedded mail sink (default 8025)"}),
    "otel": Option("--otel", "otel.url", {
        "metavar": "URL", "help": "send traces by OTLP/HTTP to the collector at URL, e.g. "
        "http://127.0.0.1:4318 (docs/tracing.md; default: [otel] url, else off)"}),
}

# The options of every command that reads the configuration.
COMMON = ("data_dir", "config", "log_level", "log_format")
MQTT = ("mqtt", "mqtt_ca", "mqtt_port", "broker")


def add_options(parser: argparse.ArgumentParser, *names: str, suppress: bool = False,
                helps: dict[str, str] | None = None) -> None:
    """Add the options ``names`` (keys of ``OPTIONS``) to ``parser``; ``helps`` replaces
    an option's help for this command. ``suppress``: an option left out keeps no value (a
    sub-command's copy of its parent's option, which must not overwrite the parent's)."""
    for name in names:
        option = OPTIONS[name]
        arguments = dict(option.arguments)
        if helps and name in helps:
            arguments["help"] = helps[name]
        if suppress:
            arguments["default"] = argparse.SUPPRESS
        parser.add_argument(option.flag, dest=name, **arguments)


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings of a command from its parsed arguments (``ConfigError`` for a bad one)."""
    overrides: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for name, option in OPTIONS.items():
        if option.setting is None:
            continue
        section, _, key = option.setting.rpartition(".")
        target = overrides.setdefault(section, {}) if section else overrides
        target[key] = getattr(args, name, None)
        flags[option.setting] = option.flag
    return load_settings(getattr(args, "config", None), overrides, override_names=flags)
