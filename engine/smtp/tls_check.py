"""A server's TLS checked the way delivery to SETD requires it, one step at a time (``tlsverify``).

Delivery's verifying handshake (engine/smtp/tls.py) stops at the first problem and reports only
that one.  A person troubleshooting wants every step: did the handshake work, with which
protocol and cipher; does the chain lead to a trusted CA; does the certificate name the
host.  So the handshake here does not verify (it only keeps TLS 1.2 as the floor, as
delivery does), and the same checks are then made on the certificates the server sent --
the chain against the same trust anchors (the configured CAs plus the system store),
the name by the same rules (:func:`engine.smtp.tls.hostname_matches`).

Tests: tests/engine/smtp/test_diagnosis_live.py.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from zope.interface import implementer

from engine.smtp.tls import (
    ClientTls,
    TlsVersion,
    certificate_names,
    hostname_matches,
    unverified_client_context,
)

#: The oldest protocol the gateway accepts towards SETD (SPEC.md §4 ruling 4).
MINIMUM = TlsVersion.TLSv1_2


class InspectingTls(ClientTls):
    """STARTTLS without verifying during the handshake; the connection is kept so the server's
    certificates can be checked afterwards.  Pass it to ``SmtpClient.starttls``."""

    def __init__(self, *, minimum: TlsVersion = MINIMUM) -> None:
        super().__init__(unverified_client_context(minimum=minimum).context, verify=False)
        self.connection: SSL.Connection | None = None

    def connection_creator(self, server_hostname: str) -> Any:
        return _KeepingCreator(self, server_hostname)

    def peer_chain(self) -> list[x509.Certificate]:
        """The certificates the server sent, its own first (empty before a handshake)."""
        if self.connection is None:
            return []
        chain = self.connection.get_peer_cert_chain() or []
        return [cert.to_cryptography() for cert in chain]


@implementer(IOpenSSLClientConnectionCreator)
class _KeepingCreator:
    def __init__(self, tls: InspectingTls, server_hostname: str) -> None:
        self.tls = tls
        self.hostname = server_hostname.rstrip(".").lower()

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        connection = SSL.Connection(self.tls.context, None)
        if self.hostname and not _is_address(self.hostname):
            connection.set_tlsext_host_name(self.hostname.encode("idna"))
        connection.set_verify(SSL.VERIFY_NONE, None)
        self.tls.connection = connection
        return connection


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class CertificateReport:
    """What the checks found on the server's certificate."""

    subject: str
    issuer: str
    not_after: str
    chain_error: str | None  # None: the chain leads to a trusted CA
    names: list[str]  # ``DNS:mx.example.com``, ``IP:127.0.0.1``, or ``CN:...`` without a SAN
    name_matches: bool

    @property
    def verified(self) -> bool:
        return self.chain_error is None and self.name_matches


def check_certificate(chain: Sequence[x509.Certificate], hostname: str,
                      trusted_pems: Sequence[bytes], *, system_store: bool = True
                      ) -> CertificateReport:
    """The chain against the trust anchors, and *hostname* against the leaf certificate."""
    leaf = chain[0]
    dns, ips, cn = certificate_names(leaf)
    names = [f"DNS:{n}" for n in dns] + [f"IP:{n}" for n in ips]
    if not names and cn:
        names = [f"CN:{cn}"]
    return CertificateReport(
        subject=leaf.subject.rfc4514_string(), issuer=leaf.issuer.rfc4514_string(),
        not_after=leaf.not_valid_after_utc.strftime("%b %d %H:%M:%S %Y GMT"),
        chain_error=chain_error(chain, trusted_pems, system_store=system_store),
        names=names, name_matches=hostname_matches(leaf, hostname),
    )


def chain_error(chain: Sequence[x509.Certificate], trusted_pems: Sequence[bytes], *,
                system_store: bool = True) -> str | None:
    """OpenSSL's verdict on *chain* (leaf first) with these trust anchors: None when it
    verifies, else OpenSSL's reason (``unable to get local issuer certificate``)."""
    store = crypto.X509Store()
    for pem in trusted_pems:
        for cert in x509.load_pem_x509_certificates(pem):
            store.add_cert(crypto.X509.from_cryptography(cert))
    if system_store:
        paths = ssl.get_default_verify_paths()
        if paths.cafile or paths.capath:
            store.load_locations(paths.cafile, paths.capath)
    leaf, *rest = [crypto.X509.from_cryptography(cert) for cert in chain]
    try:
        crypto.X509StoreContext(store, leaf, rest).verify_certificate()
    except crypto.X509StoreContextError as exc:
        return str(exc)
    return None
