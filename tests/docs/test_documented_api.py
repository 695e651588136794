"""Documented API that no other test used: Pipeline.from_yaml / from_text, spec.warnings (docs/python-api.md),
``conduix run --supervised`` / ``--in-process`` (docs/cli.md, docs/supervision.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conduix import Pipeline
from conduix.errors import ConfigError
from tests.conftest import ROOT

COUNTED = """\
name: counted
sources:
  numbers: {type: generate, count: 25}
sinks:
  out: {type: blackhole, inputs: [numbers]}
"""


def test_from_yaml_and_from_text_validate_the_same_pipeline_and_run_it(tmp_path: Path) -> None:
    path = tmp_path / "counted.yaml"
    path.write_text(COUNTED)
    from_file, from_text = Pipeline.from_yaml(path), Pipeline.from_text(COUNTED)
    assert from_file.spec.name == from_text.spec.name == "counted"
    assert list(from_file.spec.components) == list(from_text.spec.components) == ["numbers", "out"]
    assert from_file.spec.file == str(path)
    result = from_text.run(state_dir=tmp_path / "state", handle_signals=False)
    assert result.ok and result.status == "succeeded"
    assert result.stats["out"].records_in == 25


def test_from_text_and_from_yaml_refuse_a_bad_pipeline_with_its_location(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Pipeline.from_text(COUNTED.replace("count: 25", "cuont: 25"))
    assert info.value.line == 3 and "cuont" in str(info.value) and "count" in str(info.value)  # did you mean
    with pytest.raises(ConfigError, match="does not exist"):
        Pipeline.from_yaml(tmp_path / "missing.yaml")


def test_spec_warnings_name_what_validates_but_is_probably_a_mistake() -> None:
    assert Pipeline.from_text(COUNTED).spec.warnings == []
    unused = "transforms:\n  unused: {type: remap, inputs: [numbers], source: '.x = 1'}\n"
    spec = Pipeline.from_text(COUNTED + unused).spec
    assert len(spec.warnings) == 1 and "unused" in spec.warnings[0] and "goes nowhere" in spec.warnings[0]


PIDS = "import os\n\ndef tag(record):\n    record['pid'] = os.getpid()\n    return record\n"


def run_and_read_pids(tmp_path: Path, text: str, *flags: str) -> tuple[int, set[int]]:
    """``conduix run`` with ``flags``; (the CLI's process id, the process ids that processed the records)."""
    (tmp_path / "pids.py").write_text(PIDS)
    path = tmp_path / "p.yaml"
    path.write_text(text.format(out=tmp_path / "out.jsonl", here=tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(path), "--json", *flags], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CONDUIX_STATE_DIR": str(tmp_path / "state")})
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert json.loads(stderr.strip().splitlines()[-1])["status"] == "succeeded"
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["seq"] for r in records) == list(range(30))
    return proc.pid, {r["pid"] for r in records}


FLAT = """\
name: flat
sources:
  numbers: {{type: generate, count: 30}}
transforms:
  tag: {{type: python, inputs: [numbers], function: "pids:tag", python_path: ["{here}"]}}
sinks:
  out: {{type: file, inputs: [tag], path: "{out}"}}
"""
TREE = """\
name: tree
type: actor
children:
  - {{id: numbers, type: source, component: {{type: generate, count: 30}}}}
  - id: tag
    type: stage
    inputs: [numbers]
    component: {{type: python, function: "pids:tag", python_path: ["{here}"]}}
  - {{id: out, type: sink, inputs: [tag], component: {{type: file, path: "{out}"}}}}
"""


@pytest.mark.parametrize(("text", "flags", "supervised"), [
    (FLAT, (), False), (FLAT, ("--supervised",), True), (TREE, (), True), (TREE, ("--in-process",), False),
], ids=["flat", "flat --supervised", "actor", "actor --in-process"])
def test_run_supervised_or_in_process_as_the_pipeline_says_or_as_told(tmp_path: Path, text: str,
                                                                    flags: tuple[str, ...], supervised: bool) -> None:
    cli, workers = run_and_read_pids(tmp_path, text, *flags)
    if supervised:
        assert cli not in workers, "a supervised run processes records in worker processes"
    else:
        assert workers == {cli}, "an in-process run processes records in the process of `conduix run`"
