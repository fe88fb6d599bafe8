"""Fresh data for a fresh data directory: the issuer's cards and terminals from DESIGN.md.

This is the key-ceremony step of the demo: the published test keys are put under the HSM's
LMK (the switch only ever holds LMK cryptograms and check values) and each demo card gets
its IBM 3624 PIN offset from its published PIN. After this, no clear PIN or key is stored
anywhere under the data directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

from atm_switch.card_store import Card, CardStatus, CardStore, Terminal
from atmsim.demo_data import ACQUIRER_ID, DEMO_CARDS, DEMO_KEYS, DEMO_TERMINALS
from hsm_mock.keys import kcv
from hsm_mock.lmk import VariantLmk
from hsm_mock.pin_verification import ibm3624_offset

__all__ = ["DEC_TABLE", "provision_switch", "switch_db_path", "ledger_db_path", "load_lmk"]

log = logging.getLogger("atmsim.provisioning")

DEC_TABLE = "0123456789012345"
PIN_CHECK_LENGTH = 6  # BNI PINs have 6 digits: check all of them


def switch_db_path(data_dir: Path) -> Path:
    return data_dir / "switch" / "cards.db"


def ledger_db_path(data_dir: Path) -> Path:
    return data_dir / "ledger" / "ledger.db"


def load_lmk(lmk_file: str) -> VariantLmk:
    return VariantLmk.from_file(lmk_file) if lmk_file else VariantLmk.test()


def provision_switch(data_dir: Path, lmk: VariantLmk) -> bool:
    """Create the demo cards and terminals when the card database is new; True if it was."""
    store = CardStore(switch_db_path(data_dir))
    try:
        if not store.is_empty:
            return False
        keys = {name: bytes.fromhex(k.clear_hex) for name, k in DEMO_KEYS.items()}
        tpk_lmk = lmk.encrypt_key(keys["TPK"], DEMO_KEYS["TPK"].key_type)
        pvk_lmk = lmk.encrypt_key(keys["PVK"], DEMO_KEYS["PVK"].key_type)
        for name, key in DEMO_KEYS.items():
            store.put_key(name, key.key_type, lmk.encrypt_key(keys[name], key.key_type),
                          kcv(keys[name]))
        tpk_kcv = kcv(keys["TPK"])
        store.put_terminals([Terminal(t, ACQUIRER_ID, tpk_lmk, tpk_kcv) for t in DEMO_TERMINALS])
        for demo in DEMO_CARDS:
            account12 = demo.pan[:-1][-12:]
            validation_data = demo.pan[:11] + "N"
            offset = ibm3624_offset(keys["PVK"], demo.pin, validation_data, account12, DEC_TABLE,
                                    PIN_CHECK_LENGTH)
            store.put_card(Card(
                pan=demo.pan, expiry=demo.expiry, status=CardStatus.ACTIVE,
                holder_name=demo.holder, nik=demo.nik, kpj=demo.kpj, pin_method="IBM3624",
                pvk_lmk=pvk_lmk, pin_check_length=PIN_CHECK_LENGTH, pin_offset=offset,
                dec_table=DEC_TABLE, pin_validation_data=validation_data, pvki=None, pvv=None,
                pin_tries=0))
        log.info("provisioned %d demo cards and %d terminals (TPK kcv %s)", len(DEMO_CARDS),
                 len(DEMO_TERMINALS), tpk_kcv)
        return True
    finally:
        store.close()
