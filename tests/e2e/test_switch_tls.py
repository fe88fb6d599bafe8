"""TLS on the switch listener, over real sockets against the whole stack: server
certificates, mutual TLS (no client certificate or one from another CA: refused), a
switch certificate the ATM does not trust, plain TCP against a TLS switch, and handshakes
that hang (nothing sent, half a ClientHello) closed after the handshake timeout while other
ATMs are served."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atmsim import AtmClient, HostUnavailable
from atmsim.kernel.demo_data import DEMO_KEYS
from atmsim.kernel.tls import DemoPki, client_context, generate_demo_pki
from atmsim.shell.broker import EmbeddedBroker
from atmsim.shell.load.cards import demo_cards
from atmsim.shell.load.runner import LoadSettings, run_load
from atmsim.shell.stack import Stack, StackError
from tests.e2e.atm import card
from tests.e2e.conftest import stack_settings

HANDSHAKE_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return generate_demo_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    """Another CA: its certificates must be worth nothing to the first one's peers."""
    return generate_demo_pki(tmp_path_factory.mktemp("other-pki"))


async def _tls_stack(amqtt_broker: EmbeddedBroker, data_dir: Path, pki: DemoPki, *,
                     require_client_cert: bool) -> Stack:
    settings = stack_settings(data_dir, amqtt_broker.endpoint.secret_url)
    settings.mqtt.protocol, settings.mqtt.shared_subscriptions = "3.1.1", "no"
    s = settings.switch
    s.tls_cert, s.tls_key = str(pki.server_cert), str(pki.server_key)
    s.tls_client_ca = str(pki.ca_cert)
    s.tls_require_client_cert = require_client_cert
    s.tls_handshake_timeout = HANDSHAKE_TIMEOUT
    stack = Stack(settings)
    await stack.__aenter__()
    return stack


@pytest.fixture
async def mutual_tls_stack(amqtt_broker: EmbeddedBroker, data_dir: Path,
                           pki: DemoPki) -> AsyncIterator[Stack]:
    stack = await _tls_stack(amqtt_broker, data_dir, pki, require_client_cert=True)
    try:
        yield stack
    finally:
        await stack.close()


def _client(stack: Stack, tls: ssl.SSLContext | None, **options: object) -> AtmClient:
    assert stack.switch is not None
    settings: dict[str, object] = {"timeout": 10, "connect_timeout": 5, **options}
    return AtmClient("127.0.0.1", stack.switch.port, tls=tls,
                     **settings)  # type: ignore[arg-type]


async def _inquiry_through(client: AtmClient) -> str:
    budi = card("Budi")
    async with client:
        inquiry = await client.inquire(budi.pan, budi.pin)
        assert inquiry.approved and inquiry.kpj == "10012345678"
        return inquiry.response_code


async def test_a_tls_switch_serves_atms_that_trust_it_and_refuses_plain_tcp(
        amqtt_broker: EmbeddedBroker, data_dir: Path, pki: DemoPki) -> None:
    stack = await _tls_stack(amqtt_broker, data_dir, pki, require_client_cert=False)
    try:
        # No client certificate needed: server authentication only.
        assert await _inquiry_through(_client(stack, client_context(ca_file=pki.ca_cert))) \
            == "00"
        with pytest.raises(HostUnavailable):  # plain ISO 8583 at a TLS port
            await _inquiry_through(_client(stack, None, connect_timeout=2))
    finally:
        await stack.close()


async def test_mutual_tls_refuses_atms_without_a_certificate_of_its_ca(
        mutual_tls_stack: Stack, pki: DemoPki, other_pki: DemoPki) -> None:
    trusted = client_context(ca_file=pki.ca_cert, cert=pki.client_cert, key=pki.client_key)
    assert await _inquiry_through(_client(mutual_tls_stack, trusted)) == "00"

    no_certificate = client_context(ca_file=pki.ca_cert)
    with pytest.raises(HostUnavailable, match="client certificate"):
        await _inquiry_through(_client(mutual_tls_stack, no_certificate))

    wrong_ca_certificate = client_context(ca_file=pki.ca_cert, cert=other_pki.client_cert,
                                          key=other_pki.client_key)
    with pytest.raises(HostUnavailable):
        await _inquiry_through(_client(mutual_tls_stack, wrong_ca_certificate))

    # The ATM's side of it: a switch whose certificate its CA did not sign is refused.
    distrusting = client_context(ca_file=other_pki.ca_cert, cert=pki.client_cert,
                                 key=pki.client_key)
    with pytest.raises(HostUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await _inquiry_through(_client(mutual_tls_stack, distrusting))

    assert mutual_tls_stack.switch is not None
    assert mutual_tls_stack.switch.handshake_failures >= 2  # the wrong CA, the distrust


async def test_the_load_generator_speaks_mutual_tls(mutual_tls_stack: Stack,
                                                    pki: DemoPki) -> None:
    assert mutual_tls_stack.switch is not None
    report = await run_load(LoadSettings(
        host="127.0.0.1", port=mutual_tls_stack.switch.port, cards=demo_cards(),
        tpk_hex=DEMO_KEYS["TPK"].clear_hex, atms=2, concurrency=4, count=20,
        duration=None, timeout=10,
        tls=client_context(ca_file=pki.ca_cert, cert=pki.client_cert, key=pki.client_key)))
    assert report.answered == 20 and report.errors == 0 and report.timeouts == 0
    assert report.response_codes.get("00", 0) > 0


def _closed_by_peer(sock: socket.socket, within: float = 10.0) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def test_hung_tls_handshakes_are_closed_and_do_not_hold_up_other_atms(
        mutual_tls_stack: Stack, pki: DemoPki) -> None:
    switch = mutual_tls_stack.switch
    assert switch is not None
    # Long enough that the other ATM's inquiry is done before the hung ones are closed:
    # were the handshakes in the accept loop, it could only be served after them.
    switch.tls_handshake_timeout = 3.0
    silent = socket.create_connection(("127.0.0.1", switch.port))
    half_hello = socket.create_connection(("127.0.0.1", switch.port))
    # A TLS record header announcing a 512-byte handshake, and only 4 bytes of it.
    half_hello.sendall(bytes.fromhex("1603010200") + bytes.fromhex("010001fc"))
    try:
        # While both hang, another ATM completes its handshake and its inquiry.
        trusted = client_context(ca_file=pki.ca_cert, cert=pki.client_cert,
                                 key=pki.client_key)
        assert await _inquiry_through(_client(mutual_tls_stack, trusted)) == "00"
        assert not _closed_by_peer(silent, within=0.01)  # still hanging
        closed = await asyncio.gather(asyncio.to_thread(_closed_by_peer, silent),
                                      asyncio.to_thread(_closed_by_peer, half_hello))
        assert closed == [True, True]
        assert switch.handshake_failures >= 2
    finally:
        silent.close()
        half_hello.close()


async def test_switch_tls_settings_that_cannot_work_are_one_line(
        data_dir: Path, pki: DemoPki, tmp_path: Path) -> None:
    settings = stack_settings(data_dir)
    settings.switch.tls_require_client_cert = True
    settings.switch.tls_cert = str(pki.server_cert)
    with pytest.raises(StackError, match="client CA"):
        await Stack(settings, parts={"switch"}).start()
    settings.switch.tls_require_client_cert = False
    settings.switch.tls_cert = str(tmp_path / "missing.pem")
    with pytest.raises(StackError, match=r"missing\.pem"):
        await Stack(settings, parts={"switch"}).start()
    settings.switch.tls_cert, settings.switch.tls_key = "", str(pki.server_key)
    with pytest.raises(StackError, match=r"switch\.tls_cert"):
        await Stack(settings, parts={"switch"}).start()
