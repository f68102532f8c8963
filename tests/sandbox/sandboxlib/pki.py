"""Keys and certificates the sandbox creates at each start: CA, TLS server, token signing, app credentials and
the workload issuer (workload identity federation)."""
from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import timefmt
from .jose import b64url_encode

_PRIVATE_PEM = dict(encoding=serialization.Encoding.PEM, format=serialization.PrivateFormat.PKCS8,
                    encryption_algorithm=serialization.NoEncryption())


@dataclass
class KeyPair:
    """A private key with its certificate."""

    key: object
    cert: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(**_PRIVATE_PEM)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def thumbprint(self) -> str:
        """SHA-1 thumbprint in upper-case hex, as the Azure portal shows it."""
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()

    @property
    def x5t(self) -> str:
        return b64url_encode(self.cert.fingerprint(hashes.SHA1()))

    def fingerprint(self, sha256: bool = False) -> bytes:
        return self.cert.fingerprint(hashes.SHA256() if sha256 else hashes.SHA1())

    @property
    def x5c(self) -> str:
        """The DER certificate in standard base64, as JWKS ``x5c`` entries carry it."""
        return "".join(self.cert_pem.decode("ascii").splitlines()[1:-1])


@dataclass
class AppCertificate:
    """An app's certificate credential and the files it was written to."""

    pair: KeyPair
    path: str
    key_path: str
    cert_path: str

    def describe(self) -> dict:
        return {"path": self.path, "key_path": self.key_path, "cert_path": self.cert_path,
                "thumbprint": self.pair.thumbprint, "expires": timefmt.seconds(self.pair.cert.not_valid_after_utc)}


@dataclass
class Pki:
    ca_path: str
    server_cert_path: str
    server_key_path: str
    signing: KeyPair
    signing_key_path: str
    app_certificates: dict
    workload_issuer: KeyPair
    workload_issuer_key_path: str


def create(state_dir: str, scenario, now: datetime.datetime) -> Pki:
    """Creates every key and certificate and writes the files clients need into ``state_dir``."""
    ca = _self_signed(_ec_key(), "M365 Defender sandbox CA", now, now + datetime.timedelta(days=30), ca=True)
    server = _server_pair(ca, now)
    signing = _self_signed(_rsa_key(), "sandbox token signing", now, now + datetime.timedelta(days=30))
    ca_path = _write(state_dir, "ca.pem", ca.cert_pem)
    server_cert_path = _write(state_dir, "server-crt.pem", server.cert_pem)
    server_key_path = _write(state_dir, "server-key.pem", server.key_pem, private=True)
    signing_key_path = _write(state_dir, "token-signing.pem", signing.key_pem + signing.cert_pem, private=True)
    certificates = {app.name: _app_certificate(state_dir, app, now)
                    for app in scenario.apps if app.certificate_expires is not None}
    workload = _self_signed(_rsa_key(), "sandbox workload issuer", now, now + datetime.timedelta(days=30))
    workload_path = _write(state_dir, "workload-issuer.pem", workload.key_pem + workload.cert_pem, private=True)
    return Pki(ca_path, server_cert_path, server_key_path, signing, signing_key_path, certificates, workload,
               workload_path)


def _app_certificate(state_dir: str, app, now: datetime.datetime) -> AppCertificate:
    pair = _self_signed(_rsa_key(), app.name, now - datetime.timedelta(days=1), app.certificate_expires)
    return AppCertificate(
        pair,
        path=_write(state_dir, f"{app.name}-cert.pem", pair.key_pem + pair.cert_pem, private=True),
        key_path=_write(state_dir, f"{app.name}-key.pem", pair.key_pem, private=True),
        cert_path=_write(state_dir, f"{app.name}-crt.pem", pair.cert_pem),
    )


def _server_pair(ca: KeyPair, now: datetime.datetime) -> KeyPair:
    key = _ec_key()
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    builder = (
        _builder(key, "localhost", ca.cert.subject, now, now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    return KeyPair(key, builder.sign(ca.key, hashes.SHA256()))


def _self_signed(key, common_name: str, not_before, not_after, ca: bool = False) -> KeyPair:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = _builder(key, common_name, subject, not_before, not_after)
    if ca:
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        )
    return KeyPair(key, builder.sign(key, hashes.SHA256()))


def _builder(key, common_name: str, issuer: x509.Name, not_before, not_after) -> x509.CertificateBuilder:
    """Certificate skeleton; the key identifiers keep strict verifiers (Python 3.13's default) happy."""
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(state_dir: str, name: str, data: bytes, private: bool = False) -> str:
    path = os.path.join(state_dir, name)
    temporary = f"{path}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
    return path
