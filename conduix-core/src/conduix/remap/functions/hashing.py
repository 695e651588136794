"""Hashes and checksums: SHA-3, HMAC, CRC (the RevEng catalogue), xxHash and SeaHash."""

from __future__ import annotations

import hashlib
import hmac as hmac_lib
from typing import Any

from conduix.remap.functions._crc_catalogue import CATALOGUE
from conduix.remap.functions._support import from_bytes, library, to_bytes
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.typedefs import NOT_CONST
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS", "SHA3_VARIANTS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")

SHA3_VARIANTS = {"SHA3-224": "sha3_224", "SHA3-256": "sha3_256", "SHA3-384": "sha3_384", "SHA3-512": "sha3_512"}


@function(FUNCTIONS, "sha3", Param("value", S), opt("variant", S, "SHA3-512"), returns=S,
          example='sha3("foo", variant: "SHA3-224") == "f4f6779e153c391bbd29c95e72b0708e39d9166c7cea51d1f10ef58a"')
def sha3(value: str, variant: str) -> str:
    """Hex SHA-3 digest; ``variant`` is SHA3-224, SHA3-256, SHA3-384 or SHA3-512."""
    algorithm = SHA3_VARIANTS.get(variant)
    if algorithm is None:
        raise ExprError(f"unknown variant {variant!r}, expected one of {', '.join(SHA3_VARIANTS)}")
    return hashlib.new(algorithm, to_bytes(value)).hexdigest()


_HMAC = {"SHA1": "sha1", "SHA-224": "sha224", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _check_hmac(types: list[Any], consts: list[Any]) -> str | bool | None:
    algorithm = consts[2]
    if algorithm is NOT_CONST:
        return True  # known only at run time: may be no algorithm at all, as VRL says
    return None if algorithm in _HMAC else f"Invalid algorithm: {algorithm}"


@function(FUNCTIONS, "hmac", Param("value", S), Param("key", S), opt("algorithm", S, "SHA-256"), returns=S,
          checker=_check_hmac,
          example='encode_base64(hmac("Hello there", "super-secret-key")) == '
                  '"eLGE8YMviv85NPXgISRUZxstBNSU47JQdcXkUWcClmI="')
def hmac(value: str, key: str, algorithm: str) -> str:
    """The raw HMAC of ``value`` with ``key`` (SHA1, SHA-224, SHA-256, SHA-384 or SHA-512); encode it to print."""
    digest = _HMAC.get(algorithm)
    if digest is None:
        raise ExprError(f"Invalid algorithm: {algorithm}")
    return from_bytes(hmac_lib.new(to_bytes(key), to_bytes(value), digest).digest())


@function(FUNCTIONS, "crc", Param("value", S), opt("algorithm", S, "CRC_32_ISO_HDLC"), returns=S,
          example='crc("foo") == "2356372769"')
def crc(value: str, algorithm: str) -> str:
    """The CRC of ``value`` in decimal, with any algorithm of the CRC RevEng catalogue (``CRC_32_ISO_HDLC``...)."""
    name = algorithm.upper()
    params = CATALOGUE.get(name)
    if params is None:
        raise ExprError(f"Invalid CRC algorithm: {name}")
    width, poly, init, refin, refout, xorout, _check = params
    if width > 64:
        raise ExprError(f"{name} is not supported here (CRCs wider than 64 bits)")
    anycrc = library("anycrc", "anycrc")
    return str(anycrc.CRC(width=width, poly=poly, init=init, refin=refin, refout=refout,
                          xorout=xorout).calc(to_bytes(value)))


def _signed(number: int) -> int:
    return number - (1 << 64) if number >= 1 << 63 else number


_XXH = ("XXH32", "XXH64", "XXH3-64", "XXH3-128")


@function(FUNCTIONS, "xxhash", Param("value", S), opt("variant", S, "XXH32"), returns=kinds("integer", "string"),
          example='xxhash("foo", "XXH64") == 3728699739546630719')
def xxhash(value: str, variant: str) -> int | str:
    """An xxHash of ``value``: XXH32, XXH64 or XXH3-64 as an integer, XXH3-128 as a decimal string."""
    xx = library("xxhash", "xxhash")
    data = to_bytes(value)
    if variant == "XXH32":
        return int(xx.xxh32_intdigest(data))
    if variant == "XXH64":
        return _signed(xx.xxh64_intdigest(data))
    if variant == "XXH3-64":
        return _signed(xx.xxh3_64_intdigest(data))
    if variant == "XXH3-128":
        return str(xx.xxh3_128_intdigest(data))
    raise ExprError("Variant must be either 'XXH32', 'XXH64', 'XXH3-64', or 'XXH3-128'")


@function(FUNCTIONS, "seahash", Param("value", S), returns=kinds("integer"),
          example='seahash("foobar") == 5348458858952426560')
def seahash(value: str) -> int:
    """The SeaHash of ``value`` as a (signed 64-bit) integer."""
    return _signed(library("seahash", "seahash").hash(to_bytes(value)))
