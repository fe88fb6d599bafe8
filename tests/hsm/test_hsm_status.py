"""Status, health and utility commands over TCP: NO, NI, J2, J4, J8, JK, N0, JA, EE.

The figures come from the running server, so each test provokes traffic first and then
checks that the report counts it.
"""

from __future__ import annotations

import psec.pin as psec_pin
from hsm_helpers import (
    DEC_TABLE,
    PVK,
    PVK_CLEAR,
    TEST_LMK,
    VALIDATION_DATA,
    RawHsm,
    account12,
    encrypted_pin_block,
)

from hsm_mock import HsmServer

PAN = "5264220000100010"
ACCOUNT = account12(PAN)
HEADER_FIELDS = 12 + 6 * 6  # serial, start/end/current date and time


def da(pin: str, offset: str) -> str:
    from hsm_helpers import TPK

    block = encrypted_pin_block(pin, PAN)
    return TPK + PVK + "12" + block + "01" + "06" + ACCOUNT + DEC_TABLE + VALIDATION_DATA + offset


async def offset_of(raw: RawHsm, pin: str) -> str:
    encrypted = (await raw.command("BA", pin.ljust(13, "F") + ACCOUNT)).fields.decode()
    reply = await raw.command("DE", PVK + encrypted + "06" + ACCOUNT + DEC_TABLE + VALIDATION_DATA)
    return reply.fields.decode()


async def test_no_reports_tcp_sockets_and_firmware_and_pci_compliance(raw: RawHsm) -> None:
    status = await raw.command("NO", "00")
    assert (status.response_code, status.error_code) == ("NP", "00")
    fields = status.fields.decode()
    assert fields[:2] == "31"  # 32K I/O buffer, TCP
    assert fields[2:6] == "0064" and fields[6:15] == "0007-E000"
    pci = await raw.command("NO", "01")
    # Factory settings allow single-DES keys: not PCI HSM compliant.
    assert (pci.error_code, pci.fields) == ("00", b"0")
    assert (await raw.command("NO", "02")).error_code == "15"


async def test_ni_lists_this_connection_and_counts_its_traffic(raw: RawHsm) -> None:
    await raw.command("NC")
    reply = await raw.command("NI", "11")
    assert (reply.response_code, reply.error_code) == ("NJ", "00")
    text = reply.fields.decode()
    count = int(text[:4])
    records = [text[4 + 26 * i: 4 + 26 * (i + 1)] for i in range(count)]
    local_port = raw.writer.get_extra_info("sockname")[1]
    mine = [r for r in records if int(r[13:17], 16) == local_port]
    assert len(mine) == 1
    record = mine[0]
    assert record[0] == "0" and record[5:13] == "7F000001" and record[17] == "0"
    totals = text[4 + 26 * count:]
    bytes_sent, bytes_received = int(totals[:16], 16), int(totals[16:32], 16)
    frames_sent, frames_received = int(totals[32:40], 16), int(totals[40:48], 16)
    # The NC before and this NI's request (its own reply is not sent yet).
    assert frames_received >= 2 and frames_sent >= 1
    assert bytes_received >= 2 + 6 + 2 + 8 and bytes_sent >= 2 + 33
    assert (await raw.command("NI", "31")).error_code == "15"
    assert (await raw.command("NI", "12")).error_code == "82"


async def test_j4_counts_each_command_and_j8_the_pin_verifications(raw: RawHsm) -> None:
    offset = await offset_of(raw, "123456")
    for pin in ("123456", "123456", "000000"):
        await raw.command("DA", da(pin, offset))
    assert (await raw.command("XY")).response_code == "ZZ"  # not counted as a command
    volumes = await raw.command("J4")
    assert (volumes.response_code, volumes.error_code) == ("J5", "00")
    text = volumes.fields.decode()
    assert text[:12] == "ATMSIM000001"
    table = text[HEADER_FIELDS + 10:]
    counts = {table[i:i + 2]: int(table[i + 2:i + 14]) for i in range(0, len(table), 14)}
    assert counts == {"BA": 1, "DE": 1, "DA": 3}
    health = (await raw.command("J8")).fields.decode()
    tail = health[HEADER_FIELDS:]
    reboots, tampers = tail[:10], tail[10:20]
    per_minute, per_hour = int(tail[20:27]), int(tail[27:32])
    assert (reboots, tampers, per_minute, per_hour) == ("0" * 10, "0" * 10, 3, 3)


async def test_j2_puts_every_second_of_uptime_in_one_load_band(raw: RawHsm) -> None:
    reply = await raw.command("J2")
    assert (reply.response_code, reply.error_code) == ("J3", "00")
    text = reply.fields.decode()
    seconds = int(text[HEADER_FIELDS:HEADER_FIELDS + 10])
    bands = text[HEADER_FIELDS + 10:].split(";")
    assert bands[-1] == ""
    parsed = [(int(b[:3]), int(b[3:6]), int(b[6:16])) for b in bands[:-1]]
    assert [(s, e) for s, e, _ in parsed] == [(p, p + 10) for p in range(0, 100, 10)]
    # Only whole periods are counted: never more than the seconds reported.
    assert sum(n for _, _, n in parsed) <= seconds


async def test_jk_reports_a_running_untampered_hsm_with_its_test_lmk(raw: RawHsm) -> None:
    reply = await raw.command("JK")
    assert (reply.response_code, reply.error_code) == ("JL", "00")
    text = reply.fields.decode()
    states = text[24:31]
    assert states == "2213001"  # no console, no manager, host 1 up, host 2 none, untampered
    assert text[31:37] == "010100"  # one LMK, and it is a test LMK
    lmks, flags = text[37:].split("\x15")
    assert lmks == "00000V0Ttest LMK\x14" and flags == "00"
    assert (await raw.command("JK", "X")).error_code == "15"


async def test_n0_returns_as_many_random_bytes_as_asked(raw: RawHsm) -> None:
    a, b = await raw.command("N0", "008"), await raw.command("N0", "256")
    assert (a.response_code, a.error_code, len(a.fields)) == ("N1", "00", 8)
    assert (b.error_code, len(b.fields)) == ("00", 256)
    assert (await raw.command("N0", "008")).fields != a.fields
    assert (await raw.command("N0", "000")).error_code == "15"
    assert (await raw.command("N0", "257")).error_code == "15"


async def test_ja_generates_pins_that_the_hsm_can_issue(raw: RawHsm) -> None:
    # Legacy form (12N, then 2N length) and the full-PAN form ended by ";".
    legacy = await raw.command("JA", ACCOUNT + "06")
    full = await raw.command("JA", PAN + ";06")
    default = await raw.command("JA", ACCOUNT)
    for reply in (legacy, full, default):
        assert (reply.response_code, reply.error_code) == ("JB", "00")
        assert len(reply.fields) == 13 and reply.fields.isdigit()
    # The PIN under the LMK is usable: DE gives its offset, EE turns it back.
    offset = (await raw.command(
        "DE", PVK + legacy.fields.decode() + "06" + ACCOUNT + DEC_TABLE + VALIDATION_DATA
    )).fields.decode()
    derived = await raw.command("EE", PVK + offset + "06" + ACCOUNT + DEC_TABLE + VALIDATION_DATA)
    assert derived.fields == legacy.fields
    assert (await raw.command("JA", ACCOUNT + "13")).error_code == "15"
    assert (await raw.command("JA", ACCOUNT + "03")).error_code == "15"
    assert (await raw.command("JA", "12345;06")).error_code == "15"


async def test_ee_derives_the_pin_of_a_psec_offset(raw: RawHsm) -> None:
    pin = "246810"
    validation = "N" + "F" * 11  # the last 5 account digits, F-padded (as psec pads)

    def ee(pvk: str, offset: str, dec_table: str = DEC_TABLE) -> str:
        return pvk + offset.ljust(12, "F") + "06" + ACCOUNT + dec_table + validation

    offset = psec_pin.generate_ibm3624_offset(PVK_CLEAR, DEC_TABLE, pin, ACCOUNT[-5:], 0, 5, "F")
    reply = await raw.command("EE", ee(PVK, offset))
    # Double-length PVK: a warning, and the PIN all the same.
    assert (reply.response_code, reply.error_code) == ("EF", "02")
    expected = (await raw.command("BA", pin.ljust(13, "F") + ACCOUNT)).fields
    assert reply.fields == expected
    single_clear = PVK_CLEAR[:8]
    single = TEST_LMK.encrypt_key(single_clear, "002", scheme="Z")
    single_offset = psec_pin.generate_ibm3624_offset(
        single_clear * 2, DEC_TABLE, pin, ACCOUNT[-5:], 0, 5, "F")
    ok = await raw.command("EE", ee(single, single_offset))
    assert (ok.error_code, ok.fields) == ("00", expected)
    assert (await raw.command("EE", ee(PVK, "12"))).error_code == "15"  # 2 digits < check 6
    assert (await raw.command("EE", ee(PVK, offset, "0" * 16))).error_code == "25"


async def test_status_counts_are_per_server() -> None:
    async with HsmServer(port=0) as server:
        client = await RawHsm.connect(server.port)
        await client.command("NC")
        await client.close()
        assert server.status.command_counts["NC"] == 1


def test_pin_verification_counts_stay_bounded_under_load() -> None:
    from hsm_mock.status import HsmStatus

    now = [0.0]
    status = HsmStatus(clock=lambda: now[0])
    for tick in range(50_000):  # 10 verifications a second for 5000 s
        now[0] = tick / 10
        status.record("DA", "00", 0.0)
    assert status.pin_verifications_since(now[0] - 59) == 600
    # Older than an hour is forgotten (so memory stays bounded): the last 3600 s only.
    assert status.pin_verifications_since(0.0) == 36_000
