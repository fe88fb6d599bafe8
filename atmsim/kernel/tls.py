"""TLS for atmsim's TCP links: the one place that builds ``ssl.SSLContext`` objects from PEM
files, and a demo certificate authority for loopback tests.

The switch listener, the HSM listener and every ATM-side client (the ATM's link,
``atmsim inquire``, ``atmsim load``, :class:`atmsim.AtmClient`) take their contexts from
:func:`server_context` and :func:`client_context`, so they refuse the same things the same
way: TLS 1.2 or newer, certificates and host names verified, and a file that cannot be used
is a ``TlsError`` naming it, in one line.

:func:`generate_demo_pki` writes a CA, a server certificate (for ``localhost``, 127.0.0.1
and ::1 by default) and a client certificate signed by it, with ``cryptography``'s x509:
``atmsim certs generate`` puts them under the data directory.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     pki = generate_demo_pki(Path(folder))
...     server = server_context(pki.server_cert, pki.server_key, client_ca=pki.ca_cert,
...                             require_client_cert=True)
...     client = client_context(ca_file=pki.ca_cert, cert=pki.client_cert,
...                             key=pki.client_key)
>>> server.verify_mode == ssl.CERT_REQUIRED, client.check_hostname
(True, True)
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TlsError", "DemoPki", "server_context", "client_context", "generate_demo_pki",
           "DEFAULT_HANDSHAKE_TIMEOUT", "DEMO_HOSTS"]

# Seconds a TLS handshake may take before the connection is closed: a peer that connects
# and sends nothing, or half a ClientHello, must not hold a connection slot for long.
DEFAULT_HANDSHAKE_TIMEOUT = 10.0

DEMO_HOSTS = ("localhost", "127.0.0.1", "::1")


class TlsError(ValueError):
    """A certificate, key or CA file that cannot be used; the message names it."""


def _load_chain(context: ssl.SSLContext, cert: str | os.PathLike[str],
                key: str | os.PathLike[str] | None, what: str) -> None:
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise TlsError(f"{what} certificate or key: no file {exc.filename or cert}") from None
    except ssl.SSLError as exc:
        # OpenSSL says "PEM lib" for most of these: say what is wrong in words.
        detail = f" ({exc.reason})" if exc.reason and exc.reason != "PEM lib" else ""
        raise TlsError(f"{what} certificate {cert} and key {key or cert}: not a PEM "
                       f"certificate with its matching private key{detail}") from None
    except OSError as exc:
        raise TlsError(f"{what} certificate {cert} / key {key or cert}: "
                       f"{exc.strerror or exc}") from None


def _load_ca(context: ssl.SSLContext, ca_file: str | os.PathLike[str], what: str) -> None:
    try:
        context.load_verify_locations(ca_file)
    except FileNotFoundError:
        raise TlsError(f"{what} CA file {ca_file}: no such file") from None
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"{what} CA file {ca_file}: "
                       f"{getattr(exc, 'reason', None) or exc}") from None


def server_context(cert: str | os.PathLike[str], key: str | os.PathLike[str] | None = None,
                   *, client_ca: str | os.PathLike[str] | None = None,
                   require_client_cert: bool = False) -> ssl.SSLContext:
    """A server context with this certificate chain and key (PEM).

    With ``client_ca``, a client certificate is verified against it when the client offers
    one; with ``require_client_cert`` too, a client without one is refused (mutual TLS).
    """
    if require_client_cert and client_ca is None:
        raise TlsError("requiring client certificates needs a client CA file to check them")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, cert, key, "server")
    if client_ca is not None:
        _load_ca(context, client_ca, "client")
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def client_context(*, ca_file: str | os.PathLike[str] | None = None,
                   cert: str | os.PathLike[str] | None = None,
                   key: str | os.PathLike[str] | None = None,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """A client context trusting ``ca_file`` (PEM; None: the system's CAs), presenting the
    client certificate ``cert``/``key`` when given (for mutual TLS)."""
    if key is not None and cert is None:
        raise TlsError("a client key needs its client certificate")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    except ssl.SSLError as exc:  # a broken system store
        raise TlsError(f"the system's CA certificates: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        _load_ca(context, ca_file, "server")
    if cert is not None:
        _load_chain(context, cert, key, "client")
    context.check_hostname = check_hostname
    return context


@dataclass(frozen=True)
class DemoPki:
    """The files of a demo certificate authority (all PEM)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client-key.pem"

    def files(self) -> tuple[Path, ...]:
        return (self.ca_cert, self.ca_key, self.server_cert, self.server_key,
                self.client_cert, self.client_key)


def generate_demo_pki(directory: Path, *, hosts: Sequence[str] = DEMO_HOSTS,
                      client_name: str = "atmsim ATM", days: int = 825,
                      organisation: str = "atmsim demo") -> DemoPki:
    """A fresh CA, a server certificate for ``hosts`` (DNS names and IP addresses) and a
    client certificate, all signed by the CA, written to ``directory`` (keys mode 0600).

    ECDSA P-256 keys and SHA-256 signatures: what TLS 1.2/1.3 stacks everywhere accept,
    and quick to make. For tests and demos only: the CA key sits next to the certificates.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not hosts:
        raise TlsError("a server certificate needs at least one host name or address")
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def certificate(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                    issuer_key: ec.EllipticCurvePrivateKey,
                    extensions: list[tuple[x509.ExtensionType, bool]]) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name(f"{organisation} CA")
    ca = certificate(ca_name, ca_key, ca_name, ca_key, [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                       content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, encipher_only=False,
                       decipher_only=False), True)])
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    leaf_usage = x509.KeyUsage(digital_signature=True, key_encipherment=False,
                               key_agreement=True, content_commitment=False,
                               data_encipherment=False, key_cert_sign=False, crl_sign=False,
                               encipher_only=False, decipher_only=False)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate(name(hosts[0]), server_key, ca_name, ca_key, [
        (x509.BasicConstraints(ca=False, path_length=None), True), (leaf_usage, True),
        (authority, False), (x509.SubjectAlternativeName(alt_names), False),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)])
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = certificate(name(client_name), client_key, ca_name, ca_key, [
        (x509.BasicConstraints(ca=False, path_length=None), True), (leaf_usage, True),
        (authority, False), (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)])

    pki = DemoPki(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def write(path: Path, data: bytes, secret: bool) -> None:
        # Keys are created 0600 from the start, never readable by others even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        if secret:
            os.chmod(path, 0o600)

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    for path, data, secret in (
            (pki.ca_cert, ca.public_bytes(serialization.Encoding.PEM), False),
            (pki.ca_key, pem_key(ca_key), True),
            (pki.server_cert, server.public_bytes(serialization.Encoding.PEM), False),
            (pki.server_key, pem_key(server_key), True),
            (pki.client_cert, client.public_bytes(serialization.Encoding.PEM), False),
            (pki.client_key, pem_key(client_key), True)):
        write(path, data, secret)
    return pki
