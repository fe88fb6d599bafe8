"""The SMS 2757 registrations in the ledger's database (schema version 4), on SQLite and
PostgreSQL alike: what a registration checks, one number per KPJ, and the answers that
tell nothing about someone else's account."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from bpjs_ledger.answers import BalanceResult
from bpjs_ledger.db import ConstraintViolation
from bpjs_ledger.sms_registry import Registration, SmsResult
from bpjs_ledger.store import LedgerStore

BUDI = Registration("6281234567890", "10012345678", "3171011505850001", date(1985, 5, 15),
                    "BUDI SANTOSO", None)
SITI = Registration("6281234567891", "12087654321", "3273024708900002", date(1990, 8, 7),
                    None, "siti@example.com")


def test_a_registration_checks_every_part(demo_store: LedgerStore) -> None:
    for wrong in (replace(BUDI, birth_date=date(1985, 5, 16)), replace(BUDI, nik=SITI.nik),
                  replace(BUDI, name="Budi Setiawan"), replace(BUDI, kpj="19999999999")):
        assert demo_store.sms_register(wrong).result is SmsResult.MISMATCH
    assert demo_store.sms_balance(BUDI.msisdn, BUDI.kpj) == (SmsResult.NOT_REGISTERED, None)
    outcome = demo_store.sms_register(BUDI)
    assert (outcome.result, outcome.name, outcome.already, outcome.moved) == (
        SmsResult.REGISTERED, "Budi Santoso", False, False)
    assert demo_store.sms_register(BUDI).already


def test_only_the_registered_number_is_answered(demo_store: LedgerStore) -> None:
    demo_store.sms_register(BUDI)
    demo_store.sms_register(SITI)
    result, answer = demo_store.sms_balance(BUDI.msisdn, BUDI.kpj)
    assert result is SmsResult.OK and answer is not None
    assert answer.result is BalanceResult.OK and answer.kpj == BUDI.kpj
    # Siti's number, Budi's KPJ or an unknown one: the same refusal, no data.
    assert demo_store.sms_balance(SITI.msisdn, BUDI.kpj) == (SmsResult.FORBIDDEN, None)
    assert demo_store.sms_balance(SITI.msisdn, "19999999999") == (SmsResult.FORBIDDEN, None)
    assert demo_store.sms_kpjs(BUDI.msisdn, BUDI.nik).kpjs == (BUDI.kpj,)
    assert demo_store.sms_kpjs(SITI.msisdn, BUDI.nik).result is SmsResult.FORBIDDEN
    assert demo_store.sms_kpjs("6280000000000", BUDI.nik).result is SmsResult.NOT_REGISTERED


def test_registering_from_a_new_number_moves_the_kpj(demo_store: LedgerStore) -> None:
    demo_store.sms_register(BUDI)
    moved = demo_store.sms_register(Registration("6285700000001", BUDI.kpj, BUDI.nik,
                                                 BUDI.birth_date, None, None))
    assert moved.result is SmsResult.REGISTERED and moved.moved
    assert demo_store.sms_balance(BUDI.msisdn, BUDI.kpj)[0] is SmsResult.NOT_REGISTERED
    assert demo_store.sms_balance("6285700000001", BUDI.kpj)[0] is SmsResult.OK


def test_the_table_refuses_what_the_gateway_never_sends(demo_store: LedgerStore) -> None:
    with pytest.raises(ConstraintViolation), demo_store.db.transaction():
        demo_store.db.execute("INSERT INTO sms_registrations (kpj, msisdn, email, "
                              "registered_at) VALUES (?, ?, NULL, ?)",
                              ("19999999999", "6281234567890", "2026-11-01T00:00:00+00:00"))
    with pytest.raises(ConstraintViolation), demo_store.db.transaction():
        demo_store.db.execute("INSERT INTO sms_registrations (kpj, msisdn, email, "
                              "registered_at) VALUES (?, ?, NULL, ?)",
                              (BUDI.kpj, "0812", "2026-11-01T00:00:00+00:00"))
