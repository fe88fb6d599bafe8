"""Each shipped wire profile, and a user's own, end to end: ATM side -> switch -> 0210.

The switch and the ATM take the profile from the same setting (``switch.profile``); the
raw-socket tests build their bytes by hand, so a fault shared by both ends of the codec
cannot hide.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from atmsim.kernel.wire import Framing, WireProfile
from atmsim.kernel.wire.profile_file import load_profile
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.stack import Stack
from terminal_ui.device.host_link import AtmHostLink
from tests.conftest import stack_settings
from tests.e2e.atm import card, inquire


@asynccontextmanager
async def _stack_speaking(profile: str, broker: EmbeddedBroker, data_dir: Path
                          ) -> AsyncIterator[tuple[Stack, WireProfile, Framing]]:
    settings = stack_settings(data_dir, broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    settings.switch.profile = profile
    wire_profile, framing = settings.switch.wire()
    async with Stack(settings) as stack:
        yield stack, wire_profile, framing


@pytest.mark.parametrize("name", ["default", "bcd-binary", "ebcdic"])
async def test_each_shipped_profile_round_trip(amqtt_broker: EmbeddedBroker, data_dir: Path,
                                               name: str) -> None:
    async with _stack_speaking(name, amqtt_broker, data_dir) as (stack, profile, framing):
        assert stack.switch is not None
        async with AtmHostLink(stack.switch.host, stack.switch.port, terminal_id="BNI00001",
                               profile=profile, framing=framing, timeout=10) as link:
            assert (await link.sign_on())["39"] == "00"
            response, result = await inquire(link, card("Budi"))
            assert response["t"] == "0210" and result.approved
            assert result.balance_sen is not None and result.balance_sen > 0
            assert result.kpj == "10012345678"
            _, wrong = await inquire(link, card("Budi"), pin="000001")
            assert wrong.response_code == "55"


async def test_a_users_profile_file_round_trip(amqtt_broker: EmbeddedBroker, data_dir: Path,
                                               tmp_path: Path) -> None:
    path = tmp_path / "ebcdic-tpdu-4ascii.toml"
    path.write_text('base = "iso8583-1987"\n[framing]\nlength = "4ascii"\nheader = "tpdu"\n'
                    'header_value = "6000070000"\n[encoding]\nmti = "bcd"\ntext = "ebcdic"\n'
                    'numeric = "ebcdic"\nlengths = "bcd"\nbitmap = "binary"\n'
                    '[fields]\n35 = { format = "z..37", encoding = "ascii" }\n')
    async with _stack_speaking(str(path), amqtt_broker, data_dir) as (stack, profile, framing):
        assert stack.switch is not None and framing.kind == "4ascii"
        async with AtmHostLink(stack.switch.host, stack.switch.port, terminal_id="BNI00001",
                               profile=profile, framing=framing, timeout=10) as link:
            await link.sign_on()
            _, result = await inquire(link, card("Budi"))
            assert result.approved and result.balance_sen


def _bcd_echo(stan: str) -> bytes:
    """A bcd-binary 0800 echo test (7, 11, 41, 70) built by hand, TPDU to host 0001."""
    return (bytes.fromhex("6000010000" "0800" "8220000000800000" "0400000000000000"
                          "1121060000") + bytes.fromhex(stan) + b"BNI00001"
            + bytes.fromhex("0301"))


async def _read_answer(reader: asyncio.StreamReader, timeout: float = 10) -> bytes:
    size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), timeout), "big")
    return await asyncio.wait_for(reader.readexactly(size), timeout)


async def test_bcd_binary_answers_with_the_tpdu_swapped(amqtt_broker: EmbeddedBroker,
                                                         data_dir: Path) -> None:
    async with _stack_speaking("bcd-binary", amqtt_broker, data_dir) as (stack, _, _framing):
        assert stack.switch is not None
        reader, writer = await asyncio.open_connection(stack.switch.host, stack.switch.port)
        request = _bcd_echo("000123")
        writer.write(len(request).to_bytes(2, "big") + request)
        answer = await _read_answer(reader)
        assert answer[:5] == bytes.fromhex("6000000001")  # destination and source swapped
        assert answer[5:7] == bytes.fromhex("0810")
        assert answer.endswith(b"BNI00001" + bytes.fromhex("0301"))  # ans as ASCII, n3 BCD
        assert load_profile("bcd-binary").decode(answer[5:])["39"] == "00"
        writer.close()


async def test_bcd_binary_format_errors_are_answered_30_or_dropped(
        amqtt_broker: EmbeddedBroker, data_dir: Path) -> None:
    profile = load_profile("bcd-binary")
    async with _stack_speaking("bcd-binary", amqtt_broker, data_dir) as (stack, _, _framing):
        assert stack.switch is not None
        reader, writer = await asyncio.open_connection(stack.switch.host, stack.switch.port)
        # 0200 with fields 3 and 11 only, processing code 31000A: not BCD -> 30, STAN echoed.
        bad_digit = bytes.fromhex("6000010000" "0200" "2020000000000000" "31000A" "000077")
        writer.write(len(bad_digit).to_bytes(2, "big") + bad_digit)
        answer = await _read_answer(reader)
        assert answer[:5] == bytes.fromhex("6000000001")
        decoded = profile.decode(answer[5:])
        assert (decoded["t"], decoded["39"], decoded["11"]) == ("0210", "30", "000077")
        # Field 2's BCD length 1A cannot be read, and field 11 comes after it: dropped ...
        no_stan = bytes.fromhex("6000010000" "0200" "6020000000000000" "1A5264" "310000"
                                "000078")
        writer.write(len(no_stan).to_bytes(2, "big") + no_stan)
        # A frame shorter than its TPDU has no MTI to answer: dropped too ...
        writer.write(b"\x00\x03\x60\x00\x01")
        # ... and the connection stays open: the next echo is answered, and it is the
        # first answer on the link since the 30.
        echo = _bcd_echo("000079")
        writer.write(len(echo).to_bytes(2, "big") + echo)
        answer = await _read_answer(reader)
        assert profile.decode(answer[5:])["11"] == "000079"
        writer.close()
