"""Real signing keys and tokens for the authentication tests (RSA, EC, Ed25519, HMAC), their
JWKS, and htpasswd lines made with real hashes."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import bcrypt
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://idp.test"
AUDIENCE = "fastgw-api"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any  # a private key object, or bytes (HMAC)
    jwk: dict[str, Any]  # the public JWK (the secret itself for HMAC)

    def token(self, claims: dict[str, Any] | None = None, headers: dict[str, Any] | None = None, **extra: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 600}
        body.update(claims or {})
        body.update(extra)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})})

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def rsa_key(kid: str = "rsa-1", alg: str = "RS256") -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, use="sig", alg=alg)
    return SigningKey(kid, alg, private, jwk)


def ec_key(kid: str = "ec-1") -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, alg="ES256")
    return SigningKey(kid, "ES256", private, jwk)


def ed25519_key(kid: str = "ed-1") -> SigningKey:
    private = ed25519.Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid)
    return SigningKey(kid, "EdDSA", private, jwk)


def hmac_key(kid: str = "hs-1", secret: bytes = b"an-hmac-secret-of-at-least-32-bytes!!") -> SigningKey:
    jwk = {"kty": "oct", "kid": kid, "alg": "HS256", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()}
    return SigningKey(kid, "HS256", secret, jwk)


def jwks(*keys: SigningKey) -> str:
    return json.dumps({"keys": [k.jwk for k in keys]})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: dict[str, Any], alg: str = "none", kid: str | None = None) -> str:
    header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def raw_token(header: dict[str, Any], payload: bytes, key: bytes) -> str:
    """An HS256 token over arbitrary payload bytes (e.g. not UTF-8)."""
    import hmac

    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}".encode()
    sig = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{b64url(sig)}"


# -- htpasswd --------------------------------------------------------------------------------------
def htpasswd_bcrypt(user: str, password: str) -> str:
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"


def htpasswd_sha(user: str, password: str) -> str:
    return f"{user}:{{SHA}}{base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()}"


def htpasswd_apr1(user: str, password: str, salt: str = "q1w2e3r4") -> str:
    """Apache's apr1 (MD5-crypt), made by `openssl passwd -apr1` (a tool outside fastgw)."""
    from tests.conftest import require_tool

    out = subprocess.run(
        [require_tool("openssl"), "passwd", "-apr1", "-salt", salt, "-stdin"],
        input=password.encode(),
        capture_output=True,
        check=True,
    )
    return f"{user}:{out.stdout.decode().strip()}"
