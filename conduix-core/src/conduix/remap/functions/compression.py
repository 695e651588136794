"""Compression codecs: gzip, zlib, zstd, snappy and lz4 (compressed data is a binary string).

Decoders stop at :data:`MAX_DECODED_BYTES` of output, so a small hostile payload cannot make a
record gigabytes large (a "decompression bomb"); the call fails instead.
"""

from __future__ import annotations

import gzip
import io
import zlib

from conduix.remap.functions._support import from_bytes, library, to_bytes
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS", "MAX_DECODED_BYTES"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
I = kinds("integer")  # noqa: E741
B = kinds("boolean")

MAX_DECODED_BYTES = 64 * 1024 * 1024
"""The largest output a decode_* function produces (64 MiB)."""


def _too_large(name: str) -> ExprError:
    return ExprError(f"unable to decode value with {name}: the output is larger than {MAX_DECODED_BYTES} bytes")


def _inflate(data: bytes, wbits: int, name: str) -> bytes:
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(data, MAX_DECODED_BYTES + 1)
    except zlib.error as exc:
        raise ExprError(f"unable to decode value with {name} decoder: {exc}") from None
    if len(out) > MAX_DECODED_BYTES:
        raise _too_large(name)
    if not decoder.eof:
        raise ExprError(f"unable to decode value with {name} decoder: the data is truncated")
    return out


def _level(level: int, low: int, high: int) -> int:
    if not low <= level <= high:
        raise ExprError(f"compression level must be between {low} and {high}")
    return level


@function(FUNCTIONS, "encode_gzip", Param("value", S), opt("compression_level", I, 6), returns=S,
          example='encode_base64(encode_gzip("please encode me")) == '
                  '"H4sIAAAAAAAA/yvISU0sTlVIzUvOT0lVyE0FAI4R4vcQAAAA"')
def encode_gzip(value: str, compression_level: int) -> str:
    """Gzip-compress (level 0 to 9); the header has no time stamp and an unknown OS, like VRL's."""
    data = bytearray(gzip.compress(to_bytes(value), _level(compression_level, 0, 9), mtime=0))
    data[9] = 0xFF  # OS field: "unknown", as Rust's flate2 writes it
    return from_bytes(bytes(data))


@function(FUNCTIONS, "decode_gzip", Param("value", S), returns=S, fallible=True,
          example='decode_gzip!(decode_base64!("H4sIAB8BymMAAyvISU0sTlVISU3OT0lVyE0FAJsZ870QAAAA")) == '
                  '"please decode me"')
def decode_gzip(value: str) -> str:
    """Decompress gzip data."""
    return from_bytes(_inflate(to_bytes(value), 31, "gzip"))


@function(FUNCTIONS, "encode_zlib", Param("value", S), opt("compression_level", I, 6), returns=S,
          example='encode_base64(encode_zlib("please encode me")) == "eJwryElNLE5VSM1Lzk9JVchNBQA0RQX7"')
def encode_zlib(value: str, compression_level: int) -> str:
    """Zlib-compress (level 0 to 9)."""
    return from_bytes(zlib.compress(to_bytes(value), _level(compression_level, 0, 9)))


@function(FUNCTIONS, "decode_zlib", Param("value", S), returns=S, fallible=True,
          example='decode_zlib!(decode_base64!("eJxLzUvOT0mNz00FABI5A6A=")) == "encode_me"')
def decode_zlib(value: str) -> str:
    """Decompress zlib data."""
    return from_bytes(_inflate(to_bytes(value), 15, "zlib"))


@function(FUNCTIONS, "encode_zstd", Param("value", S), opt("compression_level", I, 3), returns=S,
          example='encode_base64(encode_zstd("please encode me")) == "KLUv/QBYgQAAcGxlYXNlIGVuY29kZSBtZQ=="')
def encode_zstd(value: str, compression_level: int) -> str:
    """Zstandard-compress (level 1 to 22), as a streaming encoder writes it (no content size in the header)."""
    zstandard = library("zstandard", "zstandard")
    out = io.BytesIO()
    encoder = zstandard.ZstdCompressor(level=_level(compression_level, -7, 22), write_content_size=False)
    with encoder.stream_writer(out, closefd=False) as stream:
        stream.write(to_bytes(value))
    return from_bytes(out.getvalue())


def _check_size(size: int, name: str) -> None:
    if size > MAX_DECODED_BYTES:
        raise _too_large(name)


@function(FUNCTIONS, "decode_zstd", Param("value", S), returns=S, fallible=True,
          example='decode_zstd!(decode_base64!("KLUv/QBYgQAAcGxlYXNlIGVuY29kZSBtZQ==")) == "please encode me"')
def decode_zstd(value: str) -> str:
    """Decompress Zstandard data."""
    zstandard = library("zstandard", "zstandard")
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(to_bytes(value))) as reader:
            out = reader.read(MAX_DECODED_BYTES + 1)
    except zstandard.ZstdError as exc:
        raise ExprError(f"unable to decode value with zstd decoder: {exc}") from None
    _check_size(len(out), "zstd")
    return from_bytes(out)


@function(FUNCTIONS, "encode_snappy", Param("value", S), returns=S, fallible=True,
          example='encode_base64(encode_snappy!("The quick brown fox jumps over 13 lazy dogs.")) == '
                  '"LKxUaGUgcXVpY2sgYnJvd24gZm94IGp1bXBzIG92ZXIgMTMgbGF6eSBkb2dzLg=="')
def encode_snappy(value: str) -> str:
    """Snappy-compress (the raw format, without framing)."""
    return from_bytes(bytes(library("cramjam", "cramjam").snappy.compress_raw(to_bytes(value))))


@function(FUNCTIONS, "decode_snappy", Param("value", S), returns=S, fallible=True,
          example='decode_snappy!(decode_base64!("LKxUaGUgcXVpY2sgYnJvd24gZm94IGp1bXBzIG92ZXIgMTMgbGF6eSBkb2dzLg==")) '
                  '== "The quick brown fox jumps over 13 lazy dogs."')
def decode_snappy(value: str) -> str:
    """Decompress raw Snappy data."""
    cramjam = library("cramjam", "cramjam")
    data = to_bytes(value)
    try:
        _check_size(cramjam.snappy.decompress_raw_len(data), "snappy")
        return from_bytes(bytes(cramjam.snappy.decompress_raw(data)))
    except cramjam.DecompressionError as exc:
        raise ExprError(f"unable to decode value with snappy decoder: {exc}") from None


@function(FUNCTIONS, "encode_lz4", Param("value", S), opt("prepend_size", B, True), returns=S, fallible=True,
          example='encode_base64(encode_lz4!("The quick brown fox jumps over 13 lazy dogs.", true)) == '
                  '"LAAAAPAdVGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIDEzIGxhenkgZG9ncy4="')
def encode_lz4(value: str, prepend_size: bool) -> str:
    """LZ4-compress into one block (with its size in 4 little-endian bytes first by default)."""
    block = library("lz4.block", "lz4")
    return from_bytes(block.compress(to_bytes(value), store_size=prepend_size))


_LZ4_FRAME_MAGIC = b"\x04\x22\x4d\x18"


@function(FUNCTIONS, "decode_lz4", Param("value", S), opt("buf_size", I, 1_000_000), opt("prepended_size", B, False),
          returns=S, fallible=True,
          example='decode_lz4!(decode_base64!("LAAAAPAdVGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIDEzIGxhenkgZG9ncy4="), '
                  'prepended_size: true) == "The quick brown fox jumps over 13 lazy dogs."')
def decode_lz4(value: str, buf_size: int, prepended_size: bool) -> str:
    """Decompress an LZ4 frame, or one block (``prepended_size``: its size first; else at most ``buf_size`` bytes)."""
    data = to_bytes(value)
    if data.startswith(_LZ4_FRAME_MAGIC):
        frame = library("lz4.frame", "lz4")
        decoder = frame.LZ4FrameDecompressor()
        try:
            out = decoder.decompress(data, max_length=MAX_DECODED_BYTES + 1)
        except RuntimeError as exc:
            raise ExprError(f"unable to decode value with lz4 frame decoder: {exc}") from None
        _check_size(len(out), "lz4")
        return from_bytes(out)
    block = library("lz4.block", "lz4")
    try:
        if prepended_size:
            if len(data) < 4:
                raise ExprError("unable to decode value with lz4 block decoder: the size prefix is missing")
            _check_size(int.from_bytes(data[:4], "little"), "lz4")
            return from_bytes(block.decompress(data))
        if not 0 < buf_size <= MAX_DECODED_BYTES:
            raise ExprError(f"buf_size must be between 1 and {MAX_DECODED_BYTES}")
        return from_bytes(block.decompress(data, uncompressed_size=buf_size, return_bytearray=False))
    except block.LZ4BlockError as exc:
        raise ExprError(f"unable to decode value with lz4 block decoder: {exc}") from None
