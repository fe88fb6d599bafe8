"""PANs at rest: cards.db holds no clear PAN, and a first-release (schema 1) file is migrated.

Checked on the bytes of the database files themselves, and through inquiries over the real
switch afterwards.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from atm_switch.card_store import SCHEMA_VERSION
from atmsim.kernel.demo_data import ACQUIRER_ID, DEMO_CARDS, DEMO_KEYS
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.cli import main
from atmsim.shell.provisioning import (
    PAN_DATA_KEY,
    PAN_DATA_KEY_TYPE,
    PAN_LOOKUP_KEY,
    PAN_LOOKUP_KEY_TYPE,
    open_card_store,
)
from atmsim.shell.stack import Stack
from hsm_mock.keys import kcv
from hsm_mock.lmk import PAIR_NAMES, VariantLmk
from hsm_mock.pin_verification import ibm3624_offset
from tests.e2e.atm import card, inquire, link_to
from tests.e2e.conftest import stack_settings

# The schema of the first release, as its cards.db files are on users' disks.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    pan TEXT PRIMARY KEY, expiry TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'ACTIVE',
    holder_name TEXT NOT NULL, nik TEXT NOT NULL, kpj TEXT, pin_method TEXT NOT NULL,
    pvk_lmk TEXT NOT NULL, pin_check_length INTEGER, pin_offset TEXT, dec_table TEXT,
    pin_validation_data TEXT, pvki INTEGER, pvv TEXT, pin_tries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS terminals (
    terminal_id TEXT PRIMARY KEY, acquirer_id TEXT NOT NULL, tpk_lmk TEXT NOT NULL,
    tpk_kcv TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY, key_type TEXT NOT NULL, key_lmk TEXT NOT NULL, kcv TEXT NOT NULL
);
"""
DEC_TABLE = "0123456789012345"


def _database_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (data_dir / "switch").glob("cards.db*"))


def _assert_no_clear_pan(data_dir: Path) -> None:
    stored = _database_bytes(data_dir)
    assert stored, "no card database"
    for demo in DEMO_CARDS:
        assert demo.pan.encode() not in stored, f"clear PAN {demo.holder} in cards.db"
        # nor the 11 leading digits IBM 3624 validation data repeats (with the masked PAN
        # and the check digit they would give the PAN away)
        assert demo.pan[:11].encode() not in stored, f"PAN digits of {demo.holder} in cards.db"


def _write_v1_database(data_dir: Path, lmk: VariantLmk, tries: dict[str, int],
                       status: dict[str, str]) -> None:
    path = data_dir / "switch" / "cards.db"
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO schema_version VALUES (1)")
    keys = {name: bytes.fromhex(k.clear_hex) for name, k in DEMO_KEYS.items()}
    for name, key in DEMO_KEYS.items():
        db.execute("INSERT INTO keys VALUES (?, ?, ?, ?)",
                   (name, key.key_type, lmk.encrypt_key(keys[name], key.key_type), key.kcv))
    db.execute("INSERT INTO terminals VALUES (?, ?, ?, ?)",
               ("BNI00001", ACQUIRER_ID, lmk.encrypt_key(keys["TPK"], "002"), kcv(keys["TPK"])))
    pvk_lmk = lmk.encrypt_key(keys["PVK"], "002")
    for demo in DEMO_CARDS:
        validation = demo.pan[:11] + "N"
        offset = ibm3624_offset(keys["PVK"], demo.pin, validation, demo.pan[:-1][-12:],
                                DEC_TABLE, 6)
        db.execute("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (demo.pan, demo.expiry, status.get(demo.pan, "ACTIVE"), demo.holder,
                    demo.nik, demo.kpj, "IBM3624", pvk_lmk, 6, offset, DEC_TABLE, validation,
                    None, None, tries.get(demo.pan, 0)))
    db.commit()
    db.close()


async def test_a_fresh_card_database_holds_no_clear_pan_and_keys_only_under_the_lmk(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    async with Stack(settings) as stack, link_to(stack) as link:
        assert (await inquire(link, card("Budi")))[1].response_code == "00"
        assert (await inquire(link, card("Siti"), pin="000000"))[1].response_code == "55"
    _assert_no_clear_pan(data_dir)
    stored = _database_bytes(data_dir)
    lmk = VariantLmk.test()
    store = open_card_store(data_dir, lmk)
    try:
        for name, key_type in ((PAN_LOOKUP_KEY, PAN_LOOKUP_KEY_TYPE),
                               (PAN_DATA_KEY, PAN_DATA_KEY_TYPE)):
            under_lmk = store.key(name)
            assert under_lmk is not None and under_lmk.key_lmk.startswith("T")
            clear = lmk.decrypt_key(under_lmk.key_lmk, key_type).material
            assert clear not in stored and clear.hex().encode() not in stored
            assert clear.hex().upper().encode() not in stored
        # The issuer can still read a PAN back (decrypted under the data key).
        budi = store.card(card("Budi").pan)
        assert budi is not None and budi.pan_masked == "526422******0010"
        assert store.pan(budi) == card("Budi").pan
    finally:
        store.close()


async def test_a_schema_1_database_is_migrated_in_place(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    siti, dewi, budi = card("Siti"), card("Dewi"), card("Budi")
    _write_v1_database(data_dir, VariantLmk.test(), tries={siti.pan: 2},
                       status={dewi.pan: "BLOCKED"})
    assert siti.pan.encode() in _database_bytes(data_dir)  # the test really starts from v1

    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    async with Stack(settings) as stack, link_to(stack) as link:
        assert (await inquire(link, budi))[1].response_code == "00"  # PIN data intact
        # Siti had two wrong PINs on file: the third blocks her card.
        assert (await inquire(link, siti, pin="000000"))[1].response_code == "75"
        assert (await inquire(link, dewi))[1].response_code == "62"  # status carried

    db = sqlite3.connect(data_dir / "switch" / "cards.db")
    try:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        columns = {row[1] for row in db.execute("PRAGMA table_info(cards)")}
        assert "pan" not in columns and {"pan_hash", "pan_encrypted", "pan_masked"} <= columns
        masked = [row[0] for row in db.execute("SELECT pan_masked FROM cards ORDER BY rowid")]
        assert masked == [d.pan[:6] + "******" + d.pan[-4:] for d in DEMO_CARDS]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert "cards_v1" not in tables
    finally:
        db.close()
    _assert_no_clear_pan(data_dir)


async def test_opening_a_migrated_database_again_changes_nothing(data_dir: Path) -> None:
    lmk = VariantLmk.test()
    _write_v1_database(data_dir, lmk, tries={}, status={})
    first = open_card_store(data_dir, lmk)
    hashes = [c.pan_hash for c in first.cards()]
    first.close()
    again = open_card_store(data_dir, lmk)
    try:
        assert [c.pan_hash for c in again.cards()] == hashes
        assert all(again.pan(c) == d.pan for c, d in zip(again.cards(), DEMO_CARDS, strict=True))
    finally:
        again.close()


def test_a_card_database_opened_with_another_lmk_is_refused_in_one_line(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cards", "list", "--data-dir", str(data_dir)]) == 0  # keys under the test LMK
    other = {name: VariantLmk.test().pair(name).hex() for name in PAIR_NAMES}
    other["32-33"] = "0123456789ABCDEFFEDCBA9876543210"
    lmk_file = tmp_path / "other.lmk"
    lmk_file.write_text(json.dumps(other))
    config = tmp_path / "atmsim.toml"
    config.write_text(f'[hsm]\nlmk_file = "{lmk_file}"\n')
    capsys.readouterr()
    code = main(["cards", "list", "--data-dir", str(data_dir), "--config", str(config)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and "does not decrypt under this LMK" in err
