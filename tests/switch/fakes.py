"""In-memory stand-ins for the switch's HSM link and bus, implementing the same small
interfaces (``atm_switch.hsm_link.PinVerifier``, ``atmsim.kernel.bus.Bus``), so that each
step of the switch runs alone and its outcome is set by the test."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from atm_switch.hsm_link import HsmUnavailable, NewKey
from atmsim.kernel.bus import BusTimeout, Handler


@dataclass
class FakeHsm:
    """Answers every verification with ``error_code``; ``unavailable`` raises instead.
    ``calls`` records which command was asked and with what."""

    error_code: str = "00"
    unavailable: bool = False
    delay: float = 0.0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def _answer(self, command: str, fields: dict[str, Any]) -> str:
        self.calls.append((command, fields))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.unavailable:
            raise HsmUnavailable("no reply to DA within 2.0s")
        return self.error_code

    async def verify_pin_ibm3624(self, *, tpk_lmk: str, pvk_lmk: str, pin_block_hex: str,
                                 pin_block_format: str, account12: str, check_length: int,
                                 dec_table: str, validation_data: str, offset: str) -> str:
        return await self._answer("DA", {"account12": account12, "offset": offset,
                                         "validation_data": validation_data,
                                         "pin_block": pin_block_hex})

    async def verify_pin_pvv(self, *, tpk_lmk: str, pvk_lmk: str, pin_block_hex: str,
                             pin_block_format: str, account12: str, pvki: int,
                             pvv: str) -> str:
        return await self._answer("DC", {"account12": account12, "pvki": pvki, "pvv": pvv,
                                         "pin_block": pin_block_hex})

    async def generate_mac(self, *, tak_lmk: str, data: bytes) -> tuple[str, str]:
        return await self._answer("M6", {"tak_lmk": tak_lmk}), "00000000"

    async def verify_mac(self, *, tak_lmk: str, data: bytes, mac: str) -> str:
        return await self._answer("M8", {"tak_lmk": tak_lmk, "mac": mac})

    async def generate_terminal_key(self, *, key_type: str,
                                    tmk_lmk: str) -> tuple[str, NewKey | None]:
        return await self._answer("A0", {"key_type": key_type}), None


@dataclass
class FakeBus:
    """Answers every request with ``reply``; ``reply=None`` lets it time out."""

    reply: dict[str, Any] | None = None
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def request(self, topic: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.requests.append((topic, payload))
        if self.reply is None:
            await asyncio.sleep(timeout)
            raise BusTimeout(f"no reply on {topic} within {timeout}s")
        return self.reply

    def serve(self, topic: str, handler: Handler, *, shared_group: str | None = None) -> None:
        raise NotImplementedError("the switch serves no topic")

    async def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        return self.publish_soon(topic, payload)

    def publish_soon(self, topic: str, payload: dict[str, Any], qos: int = 1) -> bool:
        self.events.append((topic, payload))
        return True
