"""Fresh data for a fresh data directory: the issuer's cards and terminals of docs/demo-data.md.

This is the key-ceremony step of the demo: the published test keys are put under the HSM's
LMK (the switch only ever holds LMK cryptograms and check values) and each demo card gets
its IBM 3624 PIN offset from its published PIN. The two PAN keys of the card database (a
lookup key for the PAN's HMAC, a data key for the encrypted PAN) are generated here at
random, stored only under the LMK, and unwrapped into memory whenever the database is
opened (:func:`open_card_store`). After this, no clear PIN, key or PAN is stored anywhere
under the data directory.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from atm_switch.card_store import CardStatus, CardStore, CardStoreError, PanKeys, Terminal
from atmsim.kernel.crypto.pin_blocks import account_number_12
from atmsim.kernel.demo_data import ACQUIRER_ID, CARD_EXPIRY, DEMO_CARDS, DEMO_KEYS, DEMO_TERMINALS
from atmsim.shell.config import Settings
from atmsim.shell.errors import UserError
from bpjs_ledger.db import describe_target, is_postgres_url
from hsm_mock import HsmError
from hsm_mock.keys import kcv
from hsm_mock.lmk import VariantLmk
from hsm_mock.pin_verification import ibm3624_offset

__all__ = ["DEC_TABLE", "issue_card", "provision_switch", "switch_db_path", "ledger_db_path",
           "ledger_target", "card_store_target", "load_lmk", "open_card_store",
           "reset_demo_cards", "PAN_LOOKUP_KEY", "PAN_DATA_KEY"]

log = logging.getLogger("atmsim.provisioning")

DEC_TABLE = "0123456789012345"
PIN_CHECK_LENGTH = 6  # BNI PINs have 6 digits: check all of them

# The card database's PAN keys: names in the keys table and key types under the LMK. Both
# sit on the data-encryption pair (DEK, 00B); the lookup key takes variant 1 of it (this
# simulator's choice) so that neither cryptogram unwraps as the other key.
PAN_LOOKUP_KEY, PAN_LOOKUP_KEY_TYPE = "PAN-LOOKUP", "10B"
PAN_DATA_KEY, PAN_DATA_KEY_TYPE = "PAN-DATA", "00B"
_PAN_KEY_BYTES = 24  # triple length under the LMK; AES-192 and a 192-bit HMAC key


def switch_db_path(data_dir: Path) -> Path:
    return data_dir / "switch" / "cards.db"


def ledger_db_path(data_dir: Path) -> Path:
    return data_dir / "ledger" / "ledger.db"


def ledger_target(settings: Settings) -> Path | str:
    """The ledger's database: ``[ledger] db`` (a file, ``sqlite:///path`` or a
    ``postgresql://`` URL), else ``ledger/ledger.db`` in the data directory."""
    return _database_target(settings.ledger.db, "--db", ledger_db_path(settings.data_dir))


def card_store_target(settings: Settings) -> Path | str:
    """The card store: ``[switch] cards_db`` (a file, ``sqlite:///path`` or a
    ``postgresql://`` URL), else ``switch/cards.db`` in the data directory."""
    return _database_target(settings.switch.cards_db, "--cards-db",
                            switch_db_path(settings.data_dir))


def _database_target(db: str, flag: str, default: Path) -> Path | str:
    """A database setting as a SQLite path or a PostgreSQL URL; ``UserError`` (naming
    ``flag``) for any other URL."""
    if not db:
        return default
    if is_postgres_url(db):
        return db
    if "://" in db and not db.startswith("sqlite://"):
        raise UserError(f"{flag} {describe_target(db)}: use a file path, sqlite:///path or "
                        "postgresql://user:password@host:port/database")
    return Path(db.removeprefix("sqlite://")).expanduser()


def load_lmk(lmk_file: str) -> VariantLmk:
    return VariantLmk.from_file(lmk_file) if lmk_file else VariantLmk.test()


def _pan_key(store: CardStore, lmk: VariantLmk, name: str, key_type: str) -> bytes:
    if store.key(name) is None:
        # Full-entropy bytes, no DES parity: these keys feed AES and HMAC, never DES.
        clear = secrets.token_bytes(_PAN_KEY_BYTES)
        store.put_key(name, key_type, lmk.encrypt_key(clear, key_type, "T"), kcv(clear),
                      replace=False)
        log.info("generated the card database's %s key under the LMK", name)
    stored = store.key(name)
    assert stored is not None
    try:
        clear = lmk.decrypt_key(stored.key_lmk, key_type).material
    except HsmError:
        clear = b""
    if not clear or kcv(clear) != stored.kcv:
        raise CardStoreError(f"card database {store.path}: its {name} key does not decrypt "
                             "under this LMK (check [hsm] lmk_file)")
    return clear


def open_card_store(data_dir: Path, lmk: VariantLmk,
                    target: Path | str | None = None) -> CardStore:
    """The card database (``target``, default the data directory's ``switch/cards.db``)
    with its PAN keys unwrapped from under ``lmk`` (created on first use; a schema-1
    database is migrated on the way)."""
    def unlock(store: CardStore) -> PanKeys:
        return PanKeys(_pan_key(store, lmk, PAN_LOOKUP_KEY, PAN_LOOKUP_KEY_TYPE),
                       _pan_key(store, lmk, PAN_DATA_KEY, PAN_DATA_KEY_TYPE))

    return CardStore(switch_db_path(data_dir) if target is None else target, unlock)


def _card_fields(lmk: VariantLmk, pan: str, pin: str, *, holder: str, nik: str,
                 kpj: str | None, expiry: str, status: str) -> dict[str, Any]:
    """A card's issuer data: the PIN as an IBM 3624 offset under the demo PVK."""
    pvk = bytes.fromhex(DEMO_KEYS["PVK"].clear_hex)
    validation_data = pan[:11] + "N"
    offset = ibm3624_offset(pvk, pin, validation_data, account_number_12(pan), DEC_TABLE,
                            PIN_CHECK_LENGTH)
    return {"expiry": expiry, "holder_name": holder, "nik": nik, "kpj": kpj,
            "pin_method": "IBM3624", "pvk_lmk": lmk.encrypt_key(pvk, DEMO_KEYS["PVK"].key_type),
            "pin_check_length": PIN_CHECK_LENGTH, "pin_offset": offset, "dec_table": DEC_TABLE,
            "pin_validation_data": validation_data, "status": status}


def _demo_card_fields(lmk: VariantLmk) -> list[tuple[str, dict[str, Any]]]:
    """Each demo card's PAN and issuer data, as first issued."""
    return [(demo.pan, _card_fields(lmk, demo.pan, demo.pin, holder=demo.holder, nik=demo.nik,
                                    kpj=demo.kpj, expiry=demo.expiry, status=CardStatus.ACTIVE))
            for demo in DEMO_CARDS]


def issue_card(data_dir: Path, lmk: VariantLmk, pan: str, pin: str, *, holder: str,
               nik: str, kpj: str | None = None, expiry: str = CARD_EXPIRY,
               status: str = CardStatus.ACTIVE, target: Path | str | None = None) -> None:
    """Issue (or re-issue) one card in the card store (``target``, default the data
    directory's), also while the switch runs: a test card a certification pack may block,
    or a BLOCKED one (62)."""
    store = open_card_store(data_dir, lmk, target)
    try:
        store.put_card(pan, **_card_fields(lmk, pan, pin, holder=holder, nik=nik, kpj=kpj,
                                           expiry=expiry, status=status))
    finally:
        store.close()


def reset_demo_cards(store: CardStore, lmk: VariantLmk) -> int:
    """Re-issue the demo cards as a fresh data directory has them (ACTIVE, no wrong PINs);
    other cards are left alone. Returns how many cards were reset."""
    cards = _demo_card_fields(lmk)
    for pan, values in cards:
        store.put_card(pan, **values)
    return len(cards)


def provision_switch(data_dir: Path, lmk: VariantLmk,
                     target: Path | str | None = None) -> bool:
    """Create the demo cards and terminals when the card database (``target``, default the
    data directory's) is new; True if it was."""
    store = open_card_store(data_dir, lmk, target)
    try:
        if not store.is_empty:
            return False
        keys = {name: bytes.fromhex(k.clear_hex) for name, k in DEMO_KEYS.items()}
        tpk_lmk = lmk.encrypt_key(keys["TPK"], DEMO_KEYS["TPK"].key_type)
        for name, key in DEMO_KEYS.items():
            store.put_key(name, key.key_type, lmk.encrypt_key(keys[name], key.key_type),
                          kcv(keys[name]))
        tpk_kcv = kcv(keys["TPK"])
        tak_lmk = lmk.encrypt_key(keys["TAK"], DEMO_KEYS["TAK"].key_type)
        tmk_lmk = lmk.encrypt_key(keys["TMK"], DEMO_KEYS["TMK"].key_type)
        store.put_terminals([
            Terminal(t, ACQUIRER_ID, tpk_lmk, tpk_kcv, tak_lmk=tak_lmk, tak_kcv=kcv(keys["TAK"]),
                     tmk_lmk=tmk_lmk, tmk_kcv=kcv(keys["TMK"]))
            for t in DEMO_TERMINALS])
        reset_demo_cards(store, lmk)
        log.info("provisioned %d demo cards and %d terminals (TPK kcv %s)", len(DEMO_CARDS),
                 len(DEMO_TERMINALS), tpk_kcv)
        return True
    finally:
        store.close()
