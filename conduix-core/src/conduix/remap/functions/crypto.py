"""Encryption (AES modes, ChaCha20-Poly1305, XSalsa20-Poly1305), randomness and UUIDs."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from datetime import datetime
from typing import Any

from conduix.remap.functions._support import from_bytes, library, to_bytes
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
I = kinds("integer")  # noqa: E741
F = kinds("float")

_AES_KEYS = {"128": 16, "192": 24, "256": 32}
_PADDINGS = ("PKCS7", "ANSIX923", "ISO7816", "ISO10126")


def _sized(value: str, size: int, what: str) -> bytes:
    data = to_bytes(value)
    if len(data) != size:
        raise ExprError(f"Invalid {what} size. Expected {size} bytes. Found {len(data)} bytes")
    return data


def _pad(data: bytes, scheme: str) -> bytes:
    count = 16 - len(data) % 16
    if scheme == "PKCS7":
        return data + bytes([count]) * count
    if scheme == "ANSIX923":
        return data + bytes(count - 1) + bytes([count])
    if scheme == "ISO10126":
        return data + os.urandom(count - 1) + bytes([count])
    return data + b"\x80" + bytes(count - 1)  # ISO7816-4


def _unpad(data: bytes, scheme: str) -> bytes:
    if not data or len(data) % 16:
        raise ExprError("unable to decrypt: invalid padding")
    if scheme == "ISO7816":
        stripped = data.rstrip(b"\x00")
        if not stripped.endswith(b"\x80") or len(data) - len(stripped) >= 16:
            raise ExprError("unable to decrypt: invalid padding")
        return stripped[:-1]
    count = data[-1]
    if not 1 <= count <= 16:
        raise ExprError("unable to decrypt: invalid padding")
    if scheme == "PKCS7" and data[-count:] != bytes([count]) * count:
        raise ExprError("unable to decrypt: invalid padding")
    if scheme == "ANSIX923" and any(data[-count:-1]):
        raise ExprError("unable to decrypt: invalid padding")
    return data[:-count]


def _aes(algorithm: str, key: str, iv: str) -> tuple[Any, str, bytes, bytes]:
    """``(AES module, mode, key bytes, iv bytes)`` for ``AES-<bits>-<mode>[-<variant>]``."""
    parts = algorithm.split("-")
    if len(parts) < 3 or parts[1] not in _AES_KEYS:
        raise ExprError(f"Invalid algorithm: {algorithm}")
    aes = library("Crypto.Cipher.AES", "pycryptodome")
    return aes, "-".join(parts[2:]), _sized(key, _AES_KEYS[parts[1]], "key"), _sized(iv, 16, "iv")


def _ctr(aes: Any, mode: str, key: bytes, iv: bytes) -> Any:
    counter = library("Crypto.Util.Counter", "pycryptodome")
    if mode in ("CTR", "CTR-LE"):  # RustCrypto Ctr64LE: a little-endian counter in the first 8 bytes
        ctr = counter.new(64, suffix=iv[8:], initial_value=int.from_bytes(iv[:8], "little"), little_endian=True,
                          allow_wraparound=True)
    else:  # Ctr64BE: a big-endian counter in the last 8 bytes
        ctr = counter.new(64, prefix=iv[:8], initial_value=int.from_bytes(iv[8:], "big"), allow_wraparound=True)
    return aes.new(key, aes.MODE_CTR, counter=ctr)


def _cipher(algorithm: str, key: str, iv: str, data: bytes, decrypt: bool) -> bytes:
    name = algorithm.upper()
    if name in ("CHACHA20-POLY1305", "XCHACHA20-POLY1305"):
        chacha = library("Crypto.Cipher.ChaCha20_Poly1305", "pycryptodome")
        nonce = _sized(iv, 12 if name.startswith("CHACHA") else 24, "iv")
        box = chacha.new(key=_sized(key, 32, "key"), nonce=nonce)
        if not decrypt:
            sealed, tag = box.encrypt_and_digest(data)
            return bytes(sealed + tag)
        try:
            return bytes(box.decrypt_and_verify(data[:-16], data[-16:]))
        except ValueError:
            raise ExprError("unable to decrypt: authentication failed") from None
    if name == "XSALSA20-POLY1305":
        secret = library("nacl.secret", "pynacl")
        box = secret.SecretBox(_sized(key, 32, "key"))
        nonce = _sized(iv, 24, "iv")
        if not decrypt:
            return bytes(box.encrypt(data, nonce).ciphertext)
        try:
            return bytes(box.decrypt(data, nonce))
        except library("nacl.exceptions", "pynacl").CryptoError:
            raise ExprError("unable to decrypt: authentication failed") from None
    if not name.startswith("AES-"):
        raise ExprError(f"Invalid algorithm: {algorithm}")
    if name.endswith("-SIV"):
        bits = name.split("-")[1]
        if bits not in ("128", "256"):
            raise ExprError(f"Invalid algorithm: {algorithm}")
        aes = library("Crypto.Cipher.AES", "pycryptodome")
        siv = aes.new(_sized(key, 32 if bits == "128" else 64, "key"), aes.MODE_SIV, nonce=_sized(iv, 16, "iv"))
        if not decrypt:
            sealed, tag = siv.encrypt_and_digest(data)
            return bytes(tag + sealed)
        try:
            return bytes(siv.decrypt_and_verify(data[16:], data[:16]))
        except ValueError:
            raise ExprError("unable to decrypt: authentication failed") from None
    aes, mode, raw_key, raw_iv = _aes(name, key, iv)
    if mode == "CFB":
        box = aes.new(raw_key, aes.MODE_CFB, iv=raw_iv, segment_size=128)
    elif mode == "OFB":
        box = aes.new(raw_key, aes.MODE_OFB, iv=raw_iv)
    elif mode in ("CTR", "CTR-LE", "CTR-BE"):
        box = _ctr(aes, mode, raw_key, raw_iv)
    elif mode.startswith("CBC-") and mode[4:] in _PADDINGS:
        box = aes.new(raw_key, aes.MODE_CBC, iv=raw_iv)
        if decrypt:
            if len(data) % 16:
                raise ExprError("unable to decrypt: the ciphertext is not a whole number of blocks")
            return _unpad(bytes(box.decrypt(data)), mode[4:])
        return bytes(box.encrypt(_pad(data, mode[4:])))
    else:
        raise ExprError(f"Invalid algorithm: {algorithm}")
    return bytes(box.decrypt(data) if decrypt else box.encrypt(data))


@function(FUNCTIONS, "encrypt", Param("plaintext", S), Param("algorithm", S), Param("key", S), Param("iv", S),
          returns=S, fallible=True,
          example='encode_base64(encrypt!("data", "AES-256-CFB", key: "01234567890123456789012345678912", '
                  'iv: "0123456789012345")) == "c/dIOA=="')
def encrypt(plaintext: str, algorithm: str, key: str, iv: str) -> str:
    """Encrypt with AES (CFB, OFB, CTR, CBC with padding, SIV), (X)ChaCha20-Poly1305 or XSalsa20-Poly1305."""
    return from_bytes(_cipher(algorithm, key, iv, to_bytes(plaintext), decrypt=False))


@function(FUNCTIONS, "decrypt", Param("ciphertext", S), Param("algorithm", S), Param("key", S), Param("iv", S),
          returns=S, fallible=True,
          example='decrypt!(decode_base64!("c/dIOA=="), "AES-256-CFB", key: "01234567890123456789012345678912", '
                  'iv: "0123456789012345") == "data"')
def decrypt(ciphertext: str, algorithm: str, key: str, iv: str) -> str:
    """Decrypt what ``encrypt`` made with the same algorithm, key and iv."""
    return from_bytes(_cipher(algorithm, key, iv, to_bytes(ciphertext), decrypt=True))


# -- randomness ------------------------------------------------------------------------------------------

@function(FUNCTIONS, "random_bool", returns=kinds("boolean"), example="is_boolean(random_bool())")
def random_bool() -> bool:
    """A random boolean."""
    return secrets.randbits(1) == 1


_MAX_RANDOM_BYTES = 64 * 1024


@function(FUNCTIONS, "random_bytes", Param("length", I), returns=S, example="length(random_bytes(16)) == 16")
def random_bytes(length: int) -> str:
    """``length`` cryptographically secure random bytes (at most 64 KiB)."""
    if length < 0:
        raise ExprError("Length cannot be negative")
    if length > _MAX_RANDOM_BYTES:
        raise ExprError(f"Length is too large. Maximum is {_MAX_RANDOM_BYTES}")
    return from_bytes(secrets.token_bytes(length))


@function(FUNCTIONS, "random_int", Param("min", I), Param("max", I), returns=I,
          example="i = random_int(0, 10); i >= 0 && i < 10")
def random_int(min_: int, max_: int) -> int:
    """A random integer from ``min`` (included) to ``max`` (excluded)."""
    if max_ <= min_:
        raise ExprError("max must be greater than min")
    return min_ + secrets.randbelow(max_ - min_)


@function(FUNCTIONS, "random_float", Param("min", F), Param("max", F), returns=F,
          example="f = random_float(0.0, 10.0); f >= 0 && f < 10")
def random_float(min_: float, max_: float) -> float:
    """A random float from ``min`` (included) to ``max`` (excluded)."""
    if max_ <= min_:
        raise ExprError("max must be greater than min")
    value = min_ + (max_ - min_) * (secrets.randbits(53) / (1 << 53))
    return value if value < max_ else min_


# -- UUIDs -----------------------------------------------------------------------------------------------

@function(FUNCTIONS, "uuid_v7", opt("timestamp", kinds("timestamp"), None), returns=S, example="uuid_v7()")
def uuid_v7(timestamp: datetime | None) -> str:
    """A random version 7 UUID, ordered by its time (now, or ``timestamp``)."""
    millis = int(timestamp.timestamp() * 1000) if timestamp is not None else time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@function(FUNCTIONS, "uuid_from_friendly_id", Param("value", S), returns=S, fallible=True,
          example='uuid_from_friendly_id!("3s87yEvnmkiPBMHsj8bwwc") == "7f41deed-d5e2-8b5e-7a13-ab4ff93cfad2"')
def uuid_from_friendly_id(value: str) -> str:
    """The UUID written as a base62 "friendly id"."""
    number = 0
    for ch in value:
        digit = _BASE62.find(ch)
        if digit < 0:
            raise ExprError("failed to decode friendly id: invalid base62 character")
        number = number * 62 + digit
    if not value or number >= 1 << 128:
        raise ExprError("failed to decode friendly id: the value does not fit in 128 bits")
    return str(uuid.UUID(int=number))
