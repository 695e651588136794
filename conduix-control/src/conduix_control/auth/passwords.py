"""Password hashing with the standard library's scrypt (a memory-hard KDF), salted, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import cache

__all__ = ["MIN_PASSWORD_LENGTH", "generate_password", "hash_password", "verify_or_pretend", "verify_password"]

_N, _R, _P, _LEN = 2**14, 8, 1, 32
MIN_PASSWORD_LENGTH = 12  #: every password a person sets (the UI, the CLI, CONDUIX_CONTROL_ADMIN_PASSWORD)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen)


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64), for :func:`verify_password`."""
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, _N, _R, _P, _LEN)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (False for an account without a password or a foreign format)."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _derive(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@cache
def _dummy_hash() -> str:
    """A hash of the usual cost that no password matches (random bytes, not derived: costs nothing to make)."""
    return f"scrypt${_N}${_R}${_P}${_b64(secrets.token_bytes(16))}${_b64(secrets.token_bytes(_LEN))}"


def verify_or_pretend(password: str, stored: str | None) -> bool:
    """:func:`verify_password`, doing the same scrypt work when there is no stored hash (an unknown user, an
    account without a password), so the answer's timing does not tell which user names exist."""
    if stored:
        return verify_password(password, stored)
    verify_password(password, _dummy_hash())
    return False


def generate_password() -> str:
    """A random password to show once (about 128 bits)."""
    return secrets.token_urlsafe(16)
