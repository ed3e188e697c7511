"""TLS material and contexts for the SMTP layer.

Three needs meet here:

* **Material**: a lab (or the SETD simulator, or a test) needs a CA and a server certificate
  with a subjectAltName for the names it answers to.  :func:`ensure_ca` and
  :func:`ensure_server_certificate` create them once as PEM files in a directory and reuse them
  on later runs, so a restarted lab keeps the certificate its peers already trust.  They are
  written durably (:mod:`engine.durable`): a first start interrupted by a crash leaves no
  empty files.  A pair found empty, damaged or not matching (a key that is not the
  certificate's) was made here, so it is made anew, and the log and standard error say so;
  one that cannot be read at all stops the start with what to do (:class:`TlsMaterialError`).
* **Server side**: :func:`server_context` gives the :class:`ServerTls` connection creator
  that ``transport.startTLS`` takes in :mod:`engine.smtp.server` (pyOpenSSL directly, so the
  versions and ciphers are ours to pin).
* **Client side**: :class:`ClientTls` makes the per-connection OpenSSL objects for
  :mod:`engine.smtp.client`.  Towards SETD the gateway requires TLS 1.2 or newer and verifies
  the chain and the name (SPEC.md §4, ruling 4); :func:`client_context` builds that.  Ordinary
  delivery with TLS "Preferred" encrypts without verifying; :func:`unverified_client_context`.

Name verification follows RFC 6125 as OpenSSL and Postfix apply it: the subjectAltName entries
of the matching type (DNS names for a host name, IP addresses for an address literal) decide
when the certificate has any; only a certificate without them falls back to the subject's CN.
Twisted's own ``optionsForClientTLS`` (service_identity) never looks at the CN, which is why the
verification is ours.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from twisted.internet.ssl import TLSVersion
from zope.interface import implementer

from engine.durable import announce_repair, write_durably

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "ClientTls",
    "ServerTls",
    "TlsMaterial",
    "TlsMaterialError",
    "TlsVersion",
    "certificate_names",
    "client_context",
    "ensure_ca",
    "ensure_server_certificate",
    "hostname_matches",
    "server_context",
    "unverified_client_context",
]

#: File names of the CA inside a material directory.
CA_CERT = "ca.pem"
CA_KEY = "ca.key"

#: Protocol versions by the names AsyncOS logs (``TLSv1.2``); the values are OpenSSL's.
TlsVersion = TLSVersion

#: Server names whose last TLS session a client keeps for resumption.
SESSIONS_KEPT = 256

_OPENSSL_VERSIONS = {
    TLSVersion.TLSv1_0: SSL.TLS1_VERSION,
    TLSVersion.TLSv1_1: SSL.TLS1_1_VERSION,
    TLSVersion.TLSv1_2: SSL.TLS1_2_VERSION,
    TLSVersion.TLSv1_3: SSL.TLS1_3_VERSION,
}

_RSA_BITS = 2048  # RSA keys, so that TLS 1.2 negotiates ECDHE-RSA-* as the log lines show
_CA_DAYS = 3650
_SERVER_DAYS = 825
_RENEW_BEFORE = datetime.timedelta(days=7)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Material: CA and server certificates as PEM files


@dataclass(frozen=True)
class TlsMaterial:
    """The PEM files of one server certificate and the CA that signed it."""

    ca_cert: Path
    cert: Path
    key: Path
    hostnames: tuple[str, ...]

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()


class TlsMaterialError(Exception):
    """TLS material that cannot be read (not merely damaged); the message says what to do."""


def ensure_ca(directory: Path, *, common_name: str = "segcli lab CA") -> tuple[Path, Path]:
    """Return ``(ca.pem, ca.key)`` in *directory*, creating a self-signed CA the first time.

    An existing CA is kept as long as it is valid, so certificates it signed earlier and peers
    that trust it keep working across restarts.  A damaged one is made anew (and said so).
    """
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    existing = _load_pair(cert_path, key_path, "the CA certificate and key",
                          consequence="a new CA was made: whatever trusted the old one must "
                                      f"trust {cert_path} instead")
    if existing is not None and _valid_for_a_while(existing):
        return cert_path, key_path
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    write_durably(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def ensure_server_certificate(
    directory: Path, hostnames: Sequence[str], *, name: str = "server",
    ca_common_name: str = "segcli lab CA",
) -> TlsMaterial:
    """Return ``<name>.pem``/``<name>.key`` for *hostnames*, signed by the directory's CA.

    The first host name becomes the CN; all of them (host names as DNS names, address literals
    as IP addresses) go into the subjectAltName.  An existing certificate is reused when it is
    still valid, was signed by the current CA and names exactly these hosts; otherwise it is
    replaced, so changing a lab's host names just works.  A damaged one (or a key that is
    not the certificate's) is replaced too, and said so.
    """
    if not hostnames:
        raise ValueError("a server certificate needs at least one host name")
    hosts = tuple(dict.fromkeys(h.strip().rstrip(".").lower() for h in hostnames))
    ca_cert_path, ca_key_path = ensure_ca(directory, common_name=ca_common_name)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    material = TlsMaterial(ca_cert_path, cert_path, key_path, hosts)
    existing = _load_pair(cert_path, key_path, "the server certificate and key",
                          consequence="new ones were made")
    if existing is not None and _reusable(existing, ca_cert, hosts):
        return material
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    key = _new_key()
    cert = _server_certificate(key, hosts, ca_cert, ca_key)
    _write_private(key_path, _key_pem(key))
    write_durably(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return material


def _load_pair(cert_path: Path, key_path: Path, what: str, *, consequence: str
               ) -> x509.Certificate | None:
    """The certificate at *cert_path* if it and the key at *key_path* are whole and belong
    together; None when there are none yet (a first start) or they are damaged -- which
    is announced, since they are then made anew."""
    if not cert_path.exists() and not key_path.exists():
        return None
    cert_pem, key_pem = _read_material(cert_path), _read_material(key_path)
    problem = _pair_problem(cert_pem, key_pem)
    if problem is None:
        return x509.load_pem_x509_certificate(cert_pem)
    announce_repair(log, f"{what} in {cert_path.parent} ({cert_path.name}, {key_path.name}) "
                         f"{problem}; {consequence}.")
    return None


def _read_material(path: Path) -> bytes:
    """The file's bytes (none if it is missing); TlsMaterialError if it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as error:
        raise TlsMaterialError(
            f"cannot read {path}: {error.strerror}. Let the user running segcli read it "
            f"(chmod 600, owned by that user), or delete it to have a new one made.") from None


def _pair_problem(cert_pem: bytes, key_pem: bytes) -> str | None:
    """What is wrong with a certificate and its key, None if nothing."""
    if not cert_pem.strip() or not key_pem.strip():
        return "were empty or missing"
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "were damaged"
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        return "did not belong together"
    return None


_MAX_COMMON_NAME = 64


def _server_certificate(key: rsa.RSAPrivateKey, hosts: tuple[str, ...],
                        ca_cert: x509.Certificate, ca_key: Any) -> x509.Certificate:
    now = _now()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    # A CN holds at most 64 characters (RFC 5280's ub-common-name), a host name up to 253:
    # a longer name is in the subjectAltName alone, critical since the subject is empty.
    fits = len(hosts[0]) <= _MAX_COMMON_NAME
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])] if fits else [])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(min(now + datetime.timedelta(days=_SERVER_DAYS),
                             ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_general_names(hosts)), critical=not fits)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _reusable(cert: x509.Certificate, ca_cert: x509.Certificate, hosts: tuple[str, ...]) -> bool:
    if cert.issuer != ca_cert.subject or not _valid_for_a_while(cert):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, Exception):  # InvalidSignature: another CA of the same name
        return False
    dns, ips, _cn = certificate_names(cert)
    return sorted(dns + ips) == sorted(hosts)


def _general_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=not cert_sign,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _valid_for_a_while(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc > now + _RENEW_BEFORE


def _write_private(path: Path, data: bytes) -> None:
    write_durably(path, data, mode=0o600)


# --------------------------------------------------------------------------------------------
# Server side


@implementer(IOpenSSLServerConnectionCreator)
class ServerTls:
    """The server side of STARTTLS: one OpenSSL context, one connection per handshake.

    Pass it as ``SmtpServerConfig.tls_context`` (``transport.startTLS`` accepts it).
    """

    def __init__(self, context: SSL.Context) -> None:
        self.context = context

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        return SSL.Connection(self.context, None)


def server_context(
    material: TlsMaterial | None = None, *, cert: Path | None = None, key: Path | None = None,
    minimum: TLSVersion = TLSVersion.TLSv1_2, maximum: TLSVersion | None = None,
    ciphers: str | None = None,
) -> ServerTls:
    """The server side for *material* (or the *cert*/*key* PEM files; *cert* may hold a chain).

    TLS 1.2 is the floor by default; *maximum* pins the newest version offered (an SETD
    simulator that should negotiate ``TLSv1.2`` as in the vendor's log lines).  *ciphers* is
    an OpenSSL cipher string for TLS 1.2 and older (e.g. ``"DEFAULT:@SECLEVEL=0"`` to let a
    test server speak TLS 1.0/1.1 at all).
    """
    if material is not None:
        cert, key = material.cert, material.key
    if cert is None or key is None:
        raise ValueError("server_context needs TLS material or cert and key paths")
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate_chain_file(str(cert))
    context.use_privatekey_file(str(key))
    context.check_privatekey()
    context.set_min_proto_version(_OPENSSL_VERSIONS[minimum])
    if maximum is not None:
        context.set_max_proto_version(_OPENSSL_VERSIONS[maximum])
    if ciphers is not None:
        context.set_cipher_list(ciphers.encode())
    context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)
    context.set_session_id(b"segcli-smtp")
    return ServerTls(context)


# --------------------------------------------------------------------------------------------
# Client side


class ClientTls:
    """How the client side of STARTTLS is set up: versions, trust, and name checking.

    One instance holds one OpenSSL context (loading trust anchors once);
    :meth:`connection_creator` gives the per-connection object ``transport.startTLS`` wants.
    After a failed handshake :meth:`failure` tells why in words for the log, and whether it
    was the certificate (as opposed to the protocol) that failed.
    """

    def __init__(self, context: SSL.Context, *, verify: bool) -> None:
        self.context = context
        self.verify = verify
        #: the last session had with each server name: the next connection offers it
        self._sessions: OrderedDict[str, SSL.Session] = OrderedDict()

    def connection_creator(self, server_hostname: str) -> _ClientConnectionCreator:
        """The connection creator for one connection to *server_hostname* (SNI and name check)."""
        return _ClientConnectionCreator(self, server_hostname)

    # -- session resumption --------------------------------------------------------------
    # A connection offers the session of the last handshake with the same server name
    # (RFC 5077 ticket or session id, as Postfix's TLS session cache does): the server may
    # resume it with an abbreviated handshake, no key exchange or certificate again.  The
    # session was had through this object, so with its trust anchors and after the name
    # check; a server that cannot or will not resume (another certificate, another
    # context) makes a full handshake, verified as always.

    def session_for(self, hostname: str) -> SSL.Session | None:
        return self._sessions.get(_session_key(hostname))

    def remember(self, hostname: str, connection: SSL.Connection) -> None:
        """After a handshake that succeeded (and verified): its session, for the next one."""
        session = connection.get_session()
        if session is None:
            return
        key = _session_key(hostname)
        self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > SESSIONS_KEPT:
            self._sessions.popitem(last=False)

    def forget(self, hostname: str) -> None:
        """After a failed handshake: the next one starts afresh."""
        self._sessions.pop(_session_key(hostname), None)


def _session_key(hostname: str) -> str:
    return hostname.rstrip(".").lower()


@dataclass
class VerificationState:
    """What the verify callback found on one connection (read back after a failed handshake)."""

    hostname: str
    error: str | None = None


@implementer(IOpenSSLClientConnectionCreator)
class _ClientConnectionCreator:
    """Makes the OpenSSL connection for one handshake; remembers why verification failed."""

    def __init__(self, tls: ClientTls, server_hostname: str) -> None:
        self.tls = tls
        self.state = VerificationState(server_hostname.rstrip(".").lower())

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        connection = SSL.Connection(self.tls.context, None)
        hostname = self.state.hostname
        if not _is_ip(hostname) and hostname:
            connection.set_tlsext_host_name(hostname.encode("idna"))
        session = self.tls.session_for(hostname)
        if session is not None:
            connection.set_session(session)
        if self.tls.verify:
            connection.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, self._verify)
        else:
            connection.set_verify(SSL.VERIFY_NONE, None)
        return connection

    def _verify(self, connection: SSL.Connection, cert: crypto.X509, errno: int, depth: int,
                ok: int) -> bool:
        """OpenSSL's verdict on the chain, then ours on the name (at the leaf)."""
        if not ok:
            self.state.error = (self.state.error or
                                f"certificate verification failed: {_verify_error(errno)}"
                                f" (depth {depth}, subject {_subject(cert)})")
            return False
        if depth == 0 and not hostname_matches(cert.to_cryptography(), self.state.hostname):
            dns, ips, cn = certificate_names(cert.to_cryptography())
            self.state.error = (
                f"certificate name mismatch: {self.state.hostname!r} is not in "
                f"subjectAltName {dns + ips} (CN {cn!r})"
            )
            return False
        return True


def client_context(
    ca_pems: Sequence[Path | bytes] = (), *, system_store: bool = False,
    minimum: TLSVersion = TLSVersion.TLSv1_2,
) -> ClientTls:
    """A verifying client: TLS ≥ *minimum*, chain to *ca_pems* (and the system store), name.

    *ca_pems* are PEM files or PEM bytes, each holding one or more CA certificates.
    """
    context = _base_client_context(minimum)
    store = context.get_cert_store()
    if store is None:  # pragma: no cover - OpenSSL always has one
        raise RuntimeError("OpenSSL context without a certificate store")
    for pem in ca_pems:
        data = pem.read_bytes() if isinstance(pem, Path) else pem
        for cert in x509.load_pem_x509_certificates(data):
            store.add_cert(crypto.X509.from_cryptography(cert))
    if system_store:
        context.set_default_verify_paths()
    return ClientTls(context, verify=True)


def unverified_client_context(*, minimum: TLSVersion = TLSVersion.TLSv1_2) -> ClientTls:
    """Encrypt without checking who is at the other end (TLS "Preferred" delivery)."""
    return ClientTls(_base_client_context(minimum), verify=False)


def _base_client_context(minimum: TLSVersion) -> SSL.Context:
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_min_proto_version(_OPENSSL_VERSIONS[minimum])
    context.set_options(SSL.OP_NO_COMPRESSION)
    return context


# --------------------------------------------------------------------------------------------
# Names


def certificate_names(cert: x509.Certificate) -> tuple[list[str], list[str], str | None]:
    """``(DNS names, IP addresses, CN)`` of *cert*, lower-cased where names are."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [name.lower() for name in san.get_values_for_type(x509.DNSName)]
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value).lower() if cns else None
    return dns, ips, cn


def hostname_matches(cert: x509.Certificate, hostname: str) -> bool:
    """Does *cert* name *hostname*?  subjectAltName first; the CN only without SAN entries."""
    hostname = hostname.rstrip(".").lower()
    dns, ips, cn = certificate_names(cert)
    if _is_ip(hostname):
        wanted = ipaddress.ip_address(hostname)
        if ips:
            return any(ipaddress.ip_address(ip) == wanted for ip in ips)
        return cn is not None and _is_ip(cn) and ipaddress.ip_address(cn) == wanted
    if dns:
        return any(_dns_match(pattern, hostname) for pattern in dns)
    return cn is not None and _dns_match(cn, hostname)


def _dns_match(pattern: str, hostname: str) -> bool:
    """RFC 6125 matching: exact, or a ``*`` as the whole left-most label (never across dots)."""
    pattern = pattern.rstrip(".")
    if pattern == hostname:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[1:]  # ".example.com"
    head, dot, rest = hostname.partition(".")
    return bool(head) and bool(dot) and "." + rest == suffix and suffix.count(".") >= 2


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _subject(cert: crypto.X509) -> str:
    return cert.to_cryptography().subject.rfc4514_string()


def _verify_error(errno: int) -> str:
    """OpenSSL's text for a verification error number (X509_verify_cert_error_string)."""
    try:
        from OpenSSL._util import ffi, lib

        return ffi.string(lib.X509_verify_cert_error_string(errno)).decode()
    except Exception:  # the private binding moved: fall back to the number
        return f"error {errno}"
