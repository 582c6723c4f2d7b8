"""htpasswd databases (Apache's format, `user:hash` per line) for basicAuth.

Hashes: bcrypt (`$2y$`/`$2a$`/`$2b$`, checked by the `bcrypt` package), apr1 (Apache's MD5-crypt,
`$apr1$`, computed here as Apache's apr_md5.c does) and `{SHA}` (base64 of SHA-1). Other kinds
(crypt(3) DES, plain text) are refused at config load. Messages name the line, never a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

import bcrypt

__all__ = ["Entry", "HtpasswdError", "apr1", "parse"]

_ITOA64: Final = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class HtpasswdError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str  # "bcrypt" | "apr1" | "sha"
    hash: bytes

    @property
    def slow(self) -> bool:
        """bcrypt is slow on purpose: checked off the event loop."""
        return self.kind == "bcrypt"

    def check(self, password: bytes) -> bool:
        if self.kind == "bcrypt":
            try:
                return bcrypt.checkpw(password, self.hash)
            except ValueError:
                return False
        if self.kind == "apr1":
            salt = self.hash.split(b"$")[2]
            return hmac.compare_digest(apr1(password, salt).encode(), self.hash)
        return hmac.compare_digest(base64.b64encode(hashlib.sha1(password).digest()), self.hash)


def parse(text: str) -> dict[str, Entry]:
    users: dict[str, Entry] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not hashed:
            raise HtpasswdError(f"line {n}: expected user:hash")
        if user in users:
            raise HtpasswdError(f"line {n}: user {user!r} listed twice")
        users[user] = _entry(hashed, n)
    if not users:
        raise HtpasswdError("no users")
    return users


def _entry(hashed: str, line: int) -> Entry:
    if hashed.startswith(("$2y$", "$2a$", "$2b$")):
        # the bcrypt package reads $2b$; $2y$ (PHP/htpasswd) and $2a$ are the same algorithm
        value = "$2b$" + hashed[4:]
        if len(value) != 60:
            raise HtpasswdError(f"line {line}: malformed bcrypt hash")
        return Entry("bcrypt", value.encode())
    if hashed.startswith("$apr1$"):
        parts = hashed.split("$")
        if len(parts) != 4 or not parts[2] or len(parts[3]) != 22:
            raise HtpasswdError(f"line {line}: malformed apr1 hash")
        return Entry("apr1", hashed.encode())
    if hashed.startswith("{SHA}"):
        digest = hashed[5:]
        try:
            ok = len(base64.b64decode(digest, validate=True)) == 20
        except ValueError:
            ok = False
        if not ok:
            raise HtpasswdError(f"line {line}: malformed {{SHA}} hash")
        return Entry("sha", digest.encode())
    raise HtpasswdError(f"line {line}: unsupported hash (bcrypt, apr1 and {{SHA}} are)")


def apr1(password: bytes, salt: bytes) -> str:
    """Apache's "$apr1$" MD5-crypt (apr_md5_encode): 1000 rounds over password and salt."""
    salt = salt[:8]
    magic = b"$apr1$"
    alt = hashlib.md5(password + salt + password).digest()
    ctx = password + magic + salt
    n = len(password)
    while n > 0:
        ctx += alt[: min(16, n)]
        n -= 16
    i = len(password)
    while i:
        ctx += b"\0" if i & 1 else password[:1]
        i >>= 1
    final = hashlib.md5(ctx).digest()
    for r in range(1000):
        step = password if r & 1 else final
        if r % 3:
            step += salt
        if r % 7:
            step += password
        step += final if r & 1 else password
        final = hashlib.md5(step).digest()
    f = final
    groups = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))
    text = "".join(_to64((f[a] << 16) | (f[b] << 8) | f[c], 4) for a, b, c in groups) + _to64(f[11], 2)
    return f"$apr1${salt.decode('latin-1')}${text}"


def _to64(value: int, n: int) -> str:
    out = []
    for _ in range(n):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(out)
