"""The security settings that govern key schemes, each way, over TCP.

* zmk_length D (factory) reads a bare 32H ZMK; S reads a bare 16H one.
* x917_under_lmk off (factory) refuses an X-tagged key under the LMK with 26; on, it is
  read as the bare cryptogram, as ThalesSimulator and jPOS do.
* single_des on (factory) takes 16H keys; off refuses them with 26 and makes NO 01 report
  the settings PCI HSM compliant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hsm_helpers import (
    DEC_TABLE,
    PVK,
    PVK_CLEAR,
    TEST_LMK,
    TPK_CLEAR,
    VALIDATION_DATA,
    ZPK,
    ZPK_CLEAR,
    RawHsm,
    account12,
    encrypted_pin_block,
)

from atmsim.shell.config import ConfigError, load_settings
from hsm_mock import HsmServer
from hsm_mock.keys import force_odd_parity
from hsm_mock.pin_verification import ibm3624_offset
from hsm_mock.security import SecuritySettings

ZMK_CLEAR = force_odd_parity(bytes.fromhex("98F8BFD5FB58DACEFDCD1C675DA19EAD"))
PAN = "5264220000100010"
ACCOUNT = account12(PAN)


@asynccontextmanager
async def hsm_with(**settings: object) -> AsyncIterator[RawHsm]:
    async with HsmServer(port=0, security=SecuritySettings(**settings)) as server:  # type: ignore[arg-type]
        raw = await RawHsm.connect(server.port)
        try:
            yield raw
        finally:
            await raw.close()


async def export_zpk(raw: RawHsm, zmk: str) -> tuple[str, str]:
    reply = await raw.command("A8", "001" + zmk + ZPK + "U")
    return reply.error_code, reply.fields.decode()


async def test_a_bare_32h_zmk_is_read_when_zmks_are_double_length() -> None:
    scheme_tagged = TEST_LMK.encrypt_key(ZMK_CLEAR, "000")  # U + 32H
    bare = TEST_LMK.encrypt_key(ZMK_CLEAR, "000", scheme="")  # 32H, no scheme variant
    async with hsm_with() as raw:  # factory: double-length ZMKs
        tagged_code, tagged = await export_zpk(raw, scheme_tagged)
        bare_code, from_bare = await export_zpk(raw, bare)
        assert (tagged_code, bare_code) == ("00", "00")
        assert from_bare == tagged  # the same ZMK, so the same ZPK under it
        assert tagged.endswith("08D7B4")  # the ZPK's check value
    async with hsm_with(zmk_length="S") as raw:
        assert (await export_zpk(raw, bare))[0] == "15"  # 16H read, then 16H left over
        assert (await export_zpk(raw, scheme_tagged))[0] == "00"
        single = TEST_LMK.encrypt_key(ZMK_CLEAR[:8], "000", scheme="Z")
        assert (await export_zpk(raw, single))[0] == "00"


async def test_an_x_tagged_key_under_the_lmk_is_refused_unless_configured() -> None:
    offset = ibm3624_offset(PVK_CLEAR, "123456", VALIDATION_DATA, ACCOUNT, DEC_TABLE, 6)
    x_tpk = "X" + TEST_LMK.encrypt_key(TPK_CLEAR, "002", scheme="")

    def da(tpk: str) -> str:
        block = encrypted_pin_block("123456", PAN)
        return (tpk + PVK + "12" + block + "01" + "06" + ACCOUNT + DEC_TABLE
                + VALIDATION_DATA + offset)

    async with hsm_with() as raw:
        assert (await raw.command("DA", da(x_tpk))).error_code == "26"
        # Y with 48H under the LMK is refused the same way.
        y_key = "Y" + TEST_LMK.encrypt_key(ZPK_CLEAR + ZPK_CLEAR[:8], "001", scheme="")
        assert (await raw.command("CC", y_key + ZPK + "12" + "0" * 16 + "0101" + ACCOUNT)
                ).error_code == "26"
    async with hsm_with(x917_under_lmk=True) as raw:
        assert (await raw.command("DA", da(x_tpk))).error_code == "02"  # verified


async def test_single_des_off_refuses_16h_keys_and_is_pci_compliant() -> None:
    single = TEST_LMK.encrypt_key(ZPK_CLEAR[:8], "001", scheme="Z")
    async with hsm_with() as raw:
        assert (await raw.command("BU", "011" + ZPK)).error_code == "00"
        assert (await raw.command("BU", "010" + single)).error_code == "00"
        assert (await raw.command("NO", "01")).fields == b"0"
    async with hsm_with(single_des=False) as raw:
        assert (await raw.command("BU", "011" + ZPK)).error_code == "00"
        assert (await raw.command("BU", "010" + single)).error_code == "26"
        assert (await raw.command("NO", "01")).fields == b"1"


def test_the_settings_come_from_the_hsm_section_of_the_config() -> None:
    settings = load_settings(env={"ATMSIM_HSM_X917_UNDER_LMK": "yes"},
                             overrides={"hsm": {"zmk_length": "s", "single_des": False}})
    assert (settings.hsm.zmk_length, settings.hsm.x917_under_lmk,
            settings.hsm.single_des) == ("s", True, False)
    defaults = load_settings(env={})
    assert (defaults.hsm.zmk_length, defaults.hsm.x917_under_lmk,
            defaults.hsm.single_des) == ("D", False, True)
    with pytest.raises(ConfigError, match="zmk_length"):
        load_settings(env={}, overrides={"hsm": {"zmk_length": "Q"}})


async def test_atmsim_hsm_runs_with_the_configured_settings(tmp_path: Path) -> None:
    from atmsim.shell.stack import Stack
    from tests.conftest import free_port

    settings = load_settings(env={}, overrides={
        "data_dir": str(tmp_path),
        "hsm": {"port": free_port(), "zmk_length": "S", "single_des": False}})
    async with Stack(settings, parts={"hsm"}):
        raw = await RawHsm.connect(settings.hsm.port)
        try:
            assert (await raw.command("NO", "01")).fields == b"1"
            bare = TEST_LMK.encrypt_key(ZMK_CLEAR, "000", scheme="")
            assert (await export_zpk(raw, bare))[0] == "15"
        finally:
            await raw.close()
