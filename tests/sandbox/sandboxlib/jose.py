"""Just enough JOSE for the sandbox: compact JWS with RS256 and PS256, and RSA JWKs."""
from __future__ import annotations

import base64
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SUPPORTED_ALGORITHMS = ("RS256", "PS256")


class JoseError(ValueError):
    """The token is not a well-formed compact JWS."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claims: dict, private_key: rsa.RSAPrivateKey, headers: dict) -> str:
    """Returns an RS256-signed JWT."""
    header = {"typ": "JWT", "alg": "RS256", **headers}
    signing_input = f"{_encode_json(header)}.{_encode_json(claims)}"
    signature = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url_encode(signature)}"


class Jws:
    """A parsed, not yet verified, compact JWS."""

    def __init__(self, token: str):
        parts = token.split(".")
        if len(parts) != 3:
            raise JoseError("a JWT has three dot-separated parts")
        try:
            self.header = json.loads(b64url_decode(parts[0]))
            self.claims = json.loads(b64url_decode(parts[1]))
            self.signature = b64url_decode(parts[2])
        except ValueError as exc:
            raise JoseError(f"undecodable JWT: {exc}") from None
        if not isinstance(self.header, dict) or not isinstance(self.claims, dict):
            raise JoseError("JWT header and payload must be JSON objects")
        self.signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")

    @property
    def algorithm(self) -> str:
        return self.header.get("alg", "")

    def verify(self, public_key: rsa.RSAPublicKey) -> bool:
        """True if the signature is valid for ``public_key`` with the header's algorithm (RS256 or PS256)."""
        if self.algorithm == "RS256":
            scheme = padding.PKCS1v15()
        elif self.algorithm == "PS256":
            scheme = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
        else:
            return False
        try:
            public_key.verify(self.signature, self.signing_input, scheme, hashes.SHA256())
        except InvalidSignature:
            return False
        return True


def rsa_jwk(public_key: rsa.RSAPublicKey) -> dict:
    numbers = public_key.public_numbers()
    return {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}


def _uint(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _encode_json(value: dict) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))
