"""The ``s3`` source's limits on what an object may hold: a line over ``max_line_bytes`` is never held whole
(a 256 MiB line in a small gzip object), and a line that does not decode is rejected with its bytes, never
replaced; in each case the lines around it are delivered."""

from __future__ import annotations

import base64
import json
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest

from conduix.testing import run_pipeline
from tests.conftest import ROOT, conduix_peak_memory

pytestmark = pytest.mark.integration("s3")

LIMIT = 1024
LONG = 256 * 1024 * 1024


def gzipped(*parts: bytes, repeat_middle: int = 1) -> bytes:
    """A gzip body of ``parts``, the middle one repeated ``repeat_middle`` times (compressed as it goes)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: gzip container
    body = [packer.compress(parts[0])]
    for _ in range(repeat_middle):
        body.append(packer.compress(parts[1]))
    body += [packer.compress(parts[2]), packer.flush()]
    return b"".join(body)


def test_a_line_over_max_line_bytes_is_a_dead_letter_and_never_held_whole(tmp_path: Path, s3_url: str, s3: Any,
                                                                             bucket: str) -> None:
    chunk = b"x" * (1024 * 1024)
    s3.put_object(Bucket=bucket, Key="big.jsonl.gz",
                  Body=gzipped(b'{"n": 1}\n', chunk, b'\n{"n": 3}\n', repeat_middle=LONG // len(chunk)))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(textwrap.dedent(f"""\
        version: 1
        name: s3-lines
        sources:
          s3: {{type: s3, bucket: {bucket}, endpoint_url: "{s3_url}", max_line_bytes: {LIMIT},
               on_error: dead_letter}}
        sinks:
          out: {{type: file, inputs: [s3], path: "{tmp_path / 'out.jsonl'}"}}
          dead: {{type: file, inputs: [s3.dead_letter], path: "{tmp_path / 'dead.jsonl'}"}}
        """))
    done, peak = conduix_peak_memory("run", "--in-process", str(pipeline), cwd=ROOT,
                                     env={"CONDUIX_STATE_DIR": str(tmp_path / "state")})
    assert done.returncode == 3, done.stderr  # succeeded, with a record error (the dead letter)
    assert peak < LONG / 2, f"the run took {peak} bytes: it read the long line whole"

    delivered = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert delivered == [{"n": 1}, {"n": 3}]
    (letter,) = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert letter["error"] == (f"line of {LONG} bytes is longer than max_line_bytes ({LIMIT}); the dead letter "
                               f"keeps its first {LIMIT} bytes")
    assert base64.b64decode(letter["raw_base64"]) == b"x" * LIMIT
    assert (letter["metadata"]["key"], letter["metadata"]["line"]) == ("big.jsonl.gz", 2)


@pytest.mark.parametrize("fmt", ["jsonl", "lines", "csv"])
def test_undecodable_and_long_lines_are_rejected_with_their_bytes(fmt: str, s3_url: str, s3: Any,
                                                                   bucket: str) -> None:
    latin1 = "café".encode("latin-1")
    good = {"jsonl": (b'{"n": 1}', b'{"n": 4}'), "lines": (b"one", b"four"), "csv": (b"1,one", b"4,four")}[fmt]
    bad_text = {"jsonl": b'{"n": "' + latin1 + b'"}', "lines": latin1, "csv": b"2," + latin1}[fmt]
    header = b"n,word\n" if fmt == "csv" else b""
    s3.put_object(Bucket=bucket, Key="mixed", Body=header + b"\n".join([good[0], bad_text, b"y" * 40, good[1]]))
    run = run_pipeline({
        "sources": {"s3": {"type": "s3", "bucket": bucket, "endpoint_url": s3_url, "format": fmt,
                           "max_line_bytes": 32, "on_error": "dead_letter"}},
        "sinks": {"out": {"type": "collect", "inputs": ["s3"]},
                  "dlq": {"type": "collect", "inputs": ["s3.dead_letter"]}},
    })
    expected = {"jsonl": [{"n": 1}, {"n": 4}], "lines": [{"message": "one"}, {"message": "four"}],
                "csv": [{"n": "1", "word": "one"}, {"n": "4", "word": "four"}]}[fmt]
    assert run.records("out") == expected
    undecodable, long = run.records("dlq")
    assert base64.b64decode(undecodable["raw_base64"]) == bad_text
    assert undecodable["error"] == "line is not valid utf-8; the dead letter keeps its bytes (raw_base64)" or (
        fmt == "jsonl" and undecodable["error"].startswith("invalid JSON")), undecodable["error"]
    assert "\ufffd" in undecodable["record"]["message"]
    assert long["error"].startswith("line of 40 bytes is longer than max_line_bytes (32)")
    assert base64.b64decode(long["raw_base64"]) == b"y" * 32
