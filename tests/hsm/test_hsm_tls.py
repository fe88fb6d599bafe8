"""The HSM over TLS: a self-signed certificate made here, HsmLink and raw clients."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from hsm_helpers import self_signed_certificate

from atm_switch.hsm_link import HsmLink, HsmUnavailable
from hsm_mock import HsmServer


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"), "hsm")


async def test_hsm_link_speaks_tls_to_the_hsm(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    client_context = ssl.create_default_context(cafile=str(cert))
    async with (
        HsmServer(port=0, tls_cert=cert, tls_key=key) as server,
        HsmLink("127.0.0.1", server.port, ssl=client_context) as link,
    ):
        replies = await asyncio.gather(*(link.request("B2", "0004ping") for _ in range(20)))
        check, firmware = await link.diagnostics()
    assert {(r.response_code, r.error_code, r.fields) for r in replies} == {("B3", "00", b"ping")}
    assert len(check) == 16 and len(firmware) == 9


async def test_plain_tcp_client_gets_no_reply_from_a_tls_hsm(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    async with HsmServer(port=0, tls_cert=cert, tls_key=key) as server:
        async with HsmLink("127.0.0.1", server.port, deadline=0.5) as plain:
            with pytest.raises(HsmUnavailable):
                await plain.diagnostics()
        # The server is unharmed and still serves TLS clients.
        context = ssl.create_default_context(cafile=str(cert))
        async with HsmLink("127.0.0.1", server.port, ssl=context) as link:
            assert (await link.request("NC")).error_code == "00"


async def test_an_untrusted_certificate_is_refused_by_the_link(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    async with (
        HsmServer(port=0, tls_cert=cert, tls_key=key) as server,
        HsmLink("127.0.0.1", server.port, ssl=ssl.create_default_context(), deadline=1.0) as link,
    ):
        with pytest.raises(HsmUnavailable):
            await link.request("NC")
