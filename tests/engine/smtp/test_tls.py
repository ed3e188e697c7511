"""TLS material (create once, reuse), name matching, and real handshakes with our contexts."""

from __future__ import annotations

import datetime
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from engine.smtp.client import SmtpClient, SmtpTlsError, TlsFailure
from engine.smtp.tls import (
    TlsVersion,
    certificate_names,
    client_context,
    ensure_ca,
    ensure_server_certificate,
    hostname_matches,
    server_context,
    unverified_client_context,
)
from tests.engine.smtp_support import Recorder

# ------------------------------------------------------------------------------ material


def test_ca_is_created_once_and_reused(tmp_path):
    cert_path, key_path = ensure_ca(tmp_path)
    first = cert_path.read_bytes(), key_path.read_bytes()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert ensure_ca(tmp_path) == (cert_path, key_path)
    assert (cert_path.read_bytes(), key_path.read_bytes()) == first
    ca = x509.load_pem_x509_certificate(first[0])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.issuer == ca.subject


def test_server_certificate_names_and_reuse(tmp_path):
    material = ensure_server_certificate(tmp_path, ["MX.Setd.Test.", "localhost", "127.0.0.1"])
    assert material.hostnames == ("mx.setd.test", "localhost", "127.0.0.1")
    cert = x509.load_pem_x509_certificate(material.cert.read_bytes())
    assert certificate_names(cert) == (["mx.setd.test", "localhost"], ["127.0.0.1"],
                                       "mx.setd.test")
    ca = x509.load_pem_x509_certificate(material.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert stat.S_IMODE(material.key.stat().st_mode) == 0o600
    # the same names again: the files stay as they are
    before = material.cert.read_bytes(), material.key.read_bytes()
    again = ensure_server_certificate(tmp_path, ["mx.setd.test", "localhost", "127.0.0.1"])
    assert (again.cert.read_bytes(), again.key.read_bytes()) == before
    # other names: a new certificate from the same CA
    changed = ensure_server_certificate(tmp_path, ["mx2.setd.test"])
    new_cert = x509.load_pem_x509_certificate(changed.cert.read_bytes())
    assert certificate_names(new_cert)[0] == ["mx2.setd.test"]
    new_cert.verify_directly_issued_by(ca)
    assert changed.ca_cert.read_bytes() == material.ca_cert.read_bytes()


def test_a_host_name_longer_than_a_common_name_may_be(tmp_path):
    """A host name of 65 to 253 characters is valid, but a certificate's CN holds at most
    64: ``sethostname`` with such a name, committed, stopped the appliance from starting
    ("internal error: Attribute's length must be >= 1 and <= 64") (found by
    benchmarks/fuzz.py).  The name goes in the subjectAltName alone, which is critical
    when the subject is empty (RFC 5280, 4.2.1.6)."""
    long_name = "x" * 63 + "." + "y" * 20 + ".example.com"
    material = ensure_server_certificate(tmp_path, [long_name])
    cert = x509.load_pem_x509_certificate(material.cert.read_bytes())
    assert certificate_names(cert) == ([long_name], [], None)
    assert cert.subject == x509.Name([])
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(material.ca_cert.read_bytes()))
    assert hostname_matches(cert, long_name)
    server_context(material)  # the listener loads it
    again = ensure_server_certificate(tmp_path, [long_name])
    assert again.cert.read_bytes() == material.cert.read_bytes()


def test_several_certificates_share_one_ca(tmp_path):
    one = ensure_server_certificate(tmp_path, ["a.test"], name="a")
    two = ensure_server_certificate(tmp_path, ["b.test"], name="b")
    assert one.cert != two.cert and one.ca_cert == two.ca_cert
    assert ensure_server_certificate(tmp_path, ["a.test"], name="a").cert.read_bytes() == \
        one.cert.read_bytes()


def test_a_server_certificate_needs_a_name(tmp_path):
    with pytest.raises(ValueError):
        ensure_server_certificate(tmp_path, [])


# ------------------------------------------------------------------------------ name matching


def make_certificate(directory: Path, *, cn: str | None, dns: list[str] = (),
                     ips: list[str] = (), name: str = "custom") -> tuple[Path, Path]:
    """A certificate signed by *directory*'s CA with exactly the given names."""
    ca_cert_path, ca_key_path = ensure_ca(directory)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i))
                                               for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.mark.parametrize(("cn", "dns", "ips", "host", "matches"), [
    ("mx.setd.test", ["mx.setd.test"], [], "mx.setd.test", True),
    ("mx.setd.test", ["mx.setd.test"], [], "MX.SETD.TEST.", True),
    ("x", ["other.test", "mx.setd.test"], [], "mx.setd.test", True),
    ("mx.setd.test", ["other.test"], [], "mx.setd.test", False),  # SAN decides, not the CN
    ("mx.setd.test", [], [], "mx.setd.test", True),  # no SAN: the CN
    ("mx.setd.test", [], [], "mx2.setd.test", False),
    (None, [], [], "mx.setd.test", False),
    ("x", ["*.setd.test"], [], "mx.setd.test", True),
    ("x", ["*.setd.test"], [], "a.mx.setd.test", False),  # a wildcard is one label
    ("x", ["*.setd.test"], [], "setd.test", False),
    ("x", ["*.test"], [], "setd.test", False),  # no wildcard over a top-level domain
    ("x", ["mx.setd.test"], ["192.0.2.7"], "192.0.2.7", True),
    ("x", ["192.0.2.7"], [], "192.0.2.7", False),  # an address must be an IP entry
    ("x", [], ["192.0.2.7"], "192.0.2.8", False),
    ("x", [], ["2001:db8::1"], "2001:db8:0::1", True),
])
def test_hostname_matching(tmp_path, cn, dns, ips, host, matches):
    cert_path, _ = make_certificate(tmp_path, cn=cn, dns=dns, ips=ips)
    assert hostname_matches(load(cert_path), host) is matches


# ------------------------------------------------------------------------------ handshakes


async def starttls(port: int, tls, server_hostname: str) -> tuple[str, str]:
    conn = await SmtpClient.connect("127.0.0.1", port, local_name="gw.test", timeout=5)
    try:
        await conn.ehlo()
        return await conn.starttls(tls, server_hostname)
    finally:
        await conn.quit()


@pytest.mark.usefixtures("run")
class TestHandshakes:
    async def test_verified_tls_1_2_or_newer(self, run, smtp_servers, server_tls, tls_material):
        _, port = smtp_servers.start(Recorder(), tls_context=server_tls)
        protocol, _ = await starttls(port, client_context([tls_material.ca_cert]),
                                     "mx.setd.test")
        assert protocol in ("TLSv1.2", "TLSv1.3")
        protocol, _ = await starttls(port, client_context([tls_material.ca_pem()]),
                                     "127.0.0.1")
        assert protocol in ("TLSv1.2", "TLSv1.3")

    async def test_cn_only_certificate_verifies_by_its_cn(self, run, smtp_servers, tmp_path):
        cert, key = make_certificate(tmp_path, cn="legacy.setd.test")
        _, port = smtp_servers.start(Recorder(), tls_context=server_context(cert=cert, key=key))
        ca = tmp_path / "ca.pem"
        await starttls(port, client_context([ca]), "legacy.setd.test")
        with pytest.raises(SmtpTlsError) as failure:
            await starttls(port, client_context([ca]), "other.setd.test")
        assert failure.value.kind is TlsFailure.VERIFICATION

    async def test_wildcard_certificate(self, run, smtp_servers, tmp_path):
        cert, key = make_certificate(tmp_path, cn="setd", dns=["*.setd.test"])
        _, port = smtp_servers.start(Recorder(), tls_context=server_context(cert=cert, key=key))
        ca = tmp_path / "ca.pem"
        await starttls(port, client_context([ca]), "mx1.setd.test")
        with pytest.raises(SmtpTlsError):
            await starttls(port, client_context([ca]), "a.mx1.setd.test")

    async def test_system_store_does_not_trust_a_private_ca(self, run, smtp_servers, server_tls,
                                                           tls_material):
        _, port = smtp_servers.start(Recorder(), tls_context=server_tls)
        with pytest.raises(SmtpTlsError) as failure:
            await starttls(port, client_context(system_store=True), "localhost")
        assert failure.value.kind is TlsFailure.VERIFICATION
        await starttls(port, client_context([tls_material.ca_cert], system_store=True),
                       "localhost")

    async def test_unverified_context_accepts_any_certificate(self, run, smtp_servers,
                                                             tmp_path):
        stranger = ensure_server_certificate(tmp_path, ["stranger.test"])
        _, port = smtp_servers.start(Recorder(), tls_context=server_context(stranger))
        protocol, cipher = await starttls(port, unverified_client_context(), "whatever.test")
        assert protocol in ("TLSv1.2", "TLSv1.3") and cipher

    @pytest.mark.parametrize("verify", [True, False])
    async def test_tls_older_than_1_2_is_refused(self, run, smtp_servers, tls_material,
                                                 verify):
        old = server_context(tls_material, minimum=TlsVersion.TLSv1_0,
                             maximum=TlsVersion.TLSv1_1, ciphers="DEFAULT:@SECLEVEL=0")
        _, port = smtp_servers.start(Recorder(), tls_context=old)
        tls = client_context([tls_material.ca_cert]) if verify else unverified_client_context()
        with pytest.raises(SmtpTlsError) as failure:
            await starttls(port, tls, "localhost")
        assert failure.value.kind is TlsFailure.PROTOCOL

    async def test_server_pinned_to_tls_1_2(self, run, smtp_servers, tls_material):
        pinned = server_context(tls_material, maximum=TlsVersion.TLSv1_2,
                                ciphers="ECDHE-RSA-AES128-GCM-SHA256")
        _, port = smtp_servers.start(Recorder(), tls_context=pinned)
        assert await starttls(port, client_context([tls_material.ca_cert]), "localhost") == (
            "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
