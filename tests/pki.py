"""A throwaway certificate authority for HTTPS fakes on loopback.

``Pki(folder).server_context("upstream.test")`` gives a server-side TLS
context whose certificate the gateway verifies against ``pki.ca_path``
(handed to it as ``ssl_verify``). Keys are EC P-256, certificates live a day.
"""

from __future__ import annotations

import ipaddress
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class Pki:
    """A CA made on the spot; it signs one server certificate per host."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = self._sign(
            self._builder(_name("gateway test CA"), self.ca_key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), True),
            self.ca_key,
        )
        self.ca_path = folder / "ca.pem"
        self.ca_path.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, subject: x509.Name, key: ec.EllipticCurvePrivateKey
                 ) -> x509.CertificateBuilder:
        now = datetime.now(timezone.utc)
        issuer = getattr(self, "ca_cert", None)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
        )

    def _sign(self, builder: x509.CertificateBuilder,
              key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
        return builder.sign(key, hashes.SHA256())

    def server_pem(self, host: str) -> Path:
        """A certificate and key for ``host`` (a name or an IP), in one file."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            self._builder(_name(host), key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(x509.SubjectAlternativeName([_alt_name(host)]), False)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        )
        cert = self._sign(builder, self.ca_key)
        path = self.folder / f"{host.replace(':', '_')}.pem"
        path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        )
        return path

    def server_context(self, host: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_pem(host))
        return context
