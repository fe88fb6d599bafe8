"""Phone -> SMSC -> gateway -> ledger over MQTT -> SMSC -> phone, over real sockets, on
SQLite and PostgreSQL: registration, balance, KPJ lookup and the privacy rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atmsim.shell.broker import EmbeddedBroker
from tests.sms.conftest import BUDI, DEWI, SITI, Channel, exchange, postgres_sms_schema, sms_channel

pytestmark = pytest.mark.mosquitto


@pytest.fixture(params=["sqlite", "postgresql"])
async def channel(request: pytest.FixtureRequest, mosquitto: EmbeddedBroker,
                  tmp_path: Path) -> AsyncIterator[Channel]:
    if request.param == "sqlite":
        async with sms_channel(mosquitto, tmp_path / "ledger.db", tmp_path) as running:
            yield running
        return
    async with postgres_sms_schema() as url, sms_channel(mosquitto, url, tmp_path) as running:
        yield running


def daftar(who: dict[str, str], **change: str) -> str:
    p = {**who, **change}
    return f"DAFTAR SALDO#{p['nik']}#{p['name']}#{p['born']}#{p['kpj']}#budi@example.com"


async def test_register_then_balance_then_kpj(channel: Channel) -> None:
    async with channel.phone("081234567890") as phone:
        reply = await exchange(phone, "SALDO 10012345678")
        assert "belum terdaftar" in reply and "DAFTAR SALDO#NIK#NAMA#DD-MM-YYYY#KPJ" in reply
        reply = await exchange(phone, daftar(BUDI))
        assert "berhasil didaftarkan" in reply and BUDI["kpj"] in reply
        reply = await exchange(phone, f"saldo{BUDI['kpj']}")
        assert reply.startswith(f"BPJSTK: Saldo JHT KPJ {BUDI['kpj']} per 31-10-2026: Rp")
        assert "Status AKTIF" in reply
        reply = await exchange(phone, f"cek  nomor ktp {BUDI['nik']}")
        assert f"KPJ {BUDI['kpj']}" in reply


async def test_a_number_cannot_read_another_participants_kpj(channel: Channel) -> None:
    async with channel.phone("081100000001") as budi, channel.phone("081100000002") as siti:
        assert "berhasil" in await exchange(budi, daftar(BUDI))
        assert "berhasil" in await exchange(siti, daftar(SITI))
        # Siti's number asks for Budi's KPJ and NIK: refused, and nothing of Budi's shows.
        reply = await exchange(siti, f"SALDO {BUDI['kpj']}")
        assert "tidak terdaftar utk nomor ini" in reply and "Rp" not in reply
        reply = await exchange(siti, f"CEK NOMOR KTP {BUDI['nik']}")
        assert "tidak terdaftar" in reply and BUDI["kpj"] not in reply
        # An unknown KPJ gets the very same answer as someone else's.
        assert await exchange(siti, "SALDO 19999999999") == await exchange(
            siti, f"SALDO {BUDI['kpj']}")
        assert "Rp" in await exchange(siti, f"SALDO {SITI['kpj']}")


async def test_registration_data_must_match(channel: Channel) -> None:
    async with channel.phone("081100000003") as phone:
        for wrong in (daftar(BUDI, born="16-05-1985"), daftar(BUDI, name="Budi Setiawan"),
                      daftar(BUDI, nik=SITI["nik"]), daftar(BUDI, kpj="19999999999")):
            assert "Data tidak sesuai" in await exchange(phone, wrong)
        assert "belum terdaftar" in await exchange(phone, f"SALDO {BUDI['kpj']}")
        # The name without spaces and the variant without a name both register.
        reply = await exchange(phone, f"DAFTAR SALDO#{BUDI['nik']}#BUDISANTOSO#{BUDI['born']}"
                               f"#{BUDI['kpj']}")
        assert "berhasil" in reply
        reply = await exchange(phone, f"daftar saldo#{BUDI['nik']}#{BUDI['born']}#{BUDI['kpj']}"
                               "#b@example.com")
        assert "sudah terdaftar" in reply


async def test_nonaktif_participant_sees_balance_and_status(channel: Channel) -> None:
    async with channel.phone("081100000004") as phone:
        reply = await exchange(phone, daftar(DEWI))
        assert "Status NONAKTIF" in reply
        reply = await exchange(phone, f"SALDO {DEWI['kpj']}")
        assert "Status NONAKTIF" in reply and "saldo tetap dikembangkan" in reply
        assert "Rp" in reply
