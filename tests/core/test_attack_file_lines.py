"""Issue 17, item 5: a file source meets a 256 MB line and lines that are not UTF-8, in a real ``conduix run``.

The long line is not read whole (the process stays far below its size) and goes to the dead-letter output
with its first ``max_line_bytes`` bytes; a line that does not decode goes there with its exact bytes instead
of being delivered with replacement characters; the lines around both are delivered.
"""

from __future__ import annotations

import base64
import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conduix.builtins.files import FileSource, FileSourceConfig
from conduix.builtins.stdio import StdinConfig, StdinSource
from conduix.components import Context
from tests.conftest import conduix_peak_memory

LONG = 256 * 1024 * 1024
LIMIT = 64 * 1024


def test_oversize_and_undecodable_lines_go_to_dead_letters_with_their_bytes(tmp_path: Path) -> None:
    data = tmp_path / "in.log"
    latin1 = "café crème".encode("latin-1")
    with data.open("wb") as out:
        out.write(b"first\n")
        out.write(b"x" * LONG + b"\n")
        out.write(latin1 + b"\n")
        out.write("d\u00e9j\u00e0 vu\n".encode())
        out.write(b"last\n")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent(f"""\
        version: 1
        name: lines
        sources:
          f: {{type: file, path: "{data}", max_line_bytes: {LIMIT}, on_error: dead_letter}}
        sinks:
          out: {{type: file, inputs: [f], path: "{tmp_path / 'out.jsonl'}"}}
          dead: {{type: file, inputs: [f.dead_letter], path: "{tmp_path / 'dead.jsonl'}"}}
        """))
    done, peak = conduix_peak_memory("run", "--in-process", str(pipeline), cwd=tmp_path)
    assert done.returncode == 3, done.stderr  # succeeded, with record errors (the two dead letters)
    assert peak < LONG / 2, f"the run took {peak} bytes: it read the long line whole"

    delivered = [json.loads(line)["message"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert delivered == ["first", "d\u00e9j\u00e0 vu", "last"]
    letters = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [letter["metadata"]["line"] for letter in letters] == [2, 3]
    long, undecodable = letters
    assert long["error"] == (f"line of {LONG} bytes is longer than max_line_bytes ({LIMIT}); the dead letter keeps its "
                             f"first {LIMIT} bytes")
    assert base64.b64decode(long["raw_base64"]) == b"x" * LIMIT
    assert undecodable["error"].startswith("line is not valid utf-8")
    assert base64.b64decode(undecodable["raw_base64"]) == latin1
    assert undecodable["record"]["message"] == "caf\ufffd cr\ufffdme"
    assert undecodable["position"] == f"{data}:3"


def read_all(source: FileSource) -> tuple[list[Any], list[Any], int]:
    """Records and rejects of every batch the source has now, and the bytes they span."""
    records: list[Any] = []
    rejects: list[Any] = []
    nbytes = 0
    while (batch := source.read(100)) is not None and (batch.records or batch.rejects):
        records += batch.records
        rejects += batch.rejects or []
        nbytes += batch.nbytes
    return records, rejects, nbytes


@pytest.mark.parametrize("fmt", ["lines", "json"])
def test_long_lines_within_a_chunk_and_across_appends_while_following(tmp_path: Path, fmt: str) -> None:
    data = tmp_path / "in.log"
    data.write_bytes(b'"a"\n' + b"1" * 40 + b'\n"b"\n' + b"2" * 30)  # a long line, then one still being written
    source = FileSource(FileSourceConfig(path=str(data), format=fmt, follow=True, max_line_bytes=8),
                        Context("f"))
    source.open()
    records, rejects, nbytes = read_all(source)
    assert [r["message"] for r in records] == (["a", "b"] if fmt == "json" else ['"a"', '"b"'])
    assert [(r.raw, r.meta["line"]) for r in rejects] == [(b"1" * 8, 2)]
    assert nbytes == 4 + 41 + 4
    with data.open("ab") as out:
        out.write(b"2" * 20 + b'\n"c"\n')
    records, rejects, nbytes = read_all(source)
    assert [r["message"] for r in records] == (["c"] if fmt == "json" else ['"c"'])
    assert [(r.raw, r.meta["line"], r.error.startswith("line of 50 bytes")) for r in rejects] == [(b"2" * 8, 4, True)]
    assert nbytes == 51 + 4 and source.files[str(data)].offset == data.stat().st_size
    source.close()


def test_stdin_lines_that_are_not_utf8_are_rejected_with_their_bytes() -> None:
    source = StdinSource(StdinConfig(), Context("in"), stream=io.BytesIO(b"ok\n\xff\xfe\nfine\n"))
    source.open()
    records: list[Any] = []
    rejects: list[Any] = []
    while (batch := source.read(100)) is not None:  # None at the end of the input
        records += batch.records
        rejects += batch.rejects or []
    assert [r["message"] for r in records] == ["ok", "fine"]
    assert [(r.raw, r.meta["line"], r.record["message"]) for r in rejects] == [(b"\xff\xfe", 2, "\ufffd\ufffd")]
