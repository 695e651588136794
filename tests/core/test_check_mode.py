"""Check mode of the loader (``resolve=False``): what a server validating other people's YAML may do.

No ``${VAR}`` resolved (placeholders checked for syntax, their fields' types left to run time), no file read,
nothing a user named imported; structure, types, the DAG and remap syntax still checked. The CLI's
``conduix validate`` keeps resolving.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conduix.config import load_pipeline_text
from conduix.errors import ConfigError
from tests.conftest import conduix


def check(text: str, **env: str) -> object:
    return load_pipeline_text(text, env=env, resolve=False)


def errors_of(text: str, *, resolve: bool = False, **env: str) -> list[ConfigError]:
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(text, env=env, resolve=resolve)
    return list(info.value.errors)


PLACEHOLDERS = """version: 1
name: p
settings: {batch_size: "${BATCH}"}
sources:
  numbers: {type: generate, count: "${SECRET}", rate: "${RATE:-5}"}
sinks:
  out: {type: file, inputs: [numbers], path: "${OUT_DIR}/out.jsonl"}
"""


def test_placeholders_stay_as_written_and_their_fields_types_are_left_to_run_time() -> None:
    spec = check(PLACEHOLDERS, SECRET="s3cr3t", BATCH="10")
    assert spec.components["out"].config.path == "${OUT_DIR}/out.jsonl"  # type: ignore[attr-defined]
    assert [c.id for c in spec.topological()] == ["numbers", "out"]
    # resolving the same text (the CLI, an agent) uses the environment, and the type errors are real ones;
    # they quote the placeholder as written, not its value (which may be a secret: issue 17, item 7)
    [error] = errors_of(PLACEHOLDERS, resolve=True, SECRET="s3cr3t", BATCH="10", OUT_DIR="/tmp")
    assert error.path == "sources.numbers.count" and "s3cr3t" not in error.message
    assert error.message == "expected an integer, got '${SECRET}' (its value is not shown)"


def test_check_mode_still_reports_what_is_wrong_besides_placeholders() -> None:
    assert [e.path for e in errors_of(PLACEHOLDERS.replace("batch_size", "batch_sise"))] == ["settings.batch_sise"]
    errors = errors_of(PLACEHOLDERS.replace("rate:", "raet:").replace("file,", "file, apend: true,"))
    assert [e.path for e in errors] == ["sources.numbers.raet", "sinks.out.apend"]
    # a wrong type next to a placeholder is still wrong; a key holding a placeholder is no excuse for a typo
    errors = errors_of(PLACEHOLDERS.replace('rate: "${RATE:-5}"', "rate: fast"))
    assert [e.path for e in errors] == ["sources.numbers.rate"]
    # the DAG too
    errors = errors_of(PLACEHOLDERS.replace("inputs: [numbers]", "inputs: [numbrs]"))
    assert [(e.path, e.hint) for e in errors] == [("sinks.out.inputs[0]", "did you mean 'numbers'?")]


@pytest.mark.parametrize("resolve", [True, False])
def test_malformed_placeholders_are_errors_at_their_place_in_both_modes(resolve: bool) -> None:
    text = PLACEHOLDERS.replace('"${SECRET}"', '"${SECRET"').replace("${OUT_DIR}", "${OUT DIR}")
    errors = errors_of(text, resolve=resolve, SECRET="1", BATCH="1", OUT_DIR="x")
    assert [(e.path, e.line) for e in errors] == [("sources.numbers.count", 5), ("sinks.out.path", 7)]
    assert all("malformed placeholder" in e.message and "$${" in (e.hint or "") for e in errors)
    escaped = PLACEHOLDERS.replace("${OUT_DIR}", "$${OUT_DIR}").replace('"${SECRET}"', "3")
    spec = load_pipeline_text(escaped, env={"BATCH": "1"}, resolve=resolve)
    expected = "$${OUT_DIR}/out.jsonl" if not resolve else "${OUT_DIR}/out.jsonl"
    assert spec.components["out"].config.path == expected  # type: ignore[attr-defined]


def test_remap_syntax_is_checked_but_no_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the password is hunter2 and this is no program\n")
    text = f"""version: 1
sources:
  n: {{type: generate, count: 1}}
transforms:
  from_file: {{type: remap, inputs: [n], file: "{secret}"}}
  bad: {{type: remap, inputs: [from_file], source: ".x = ("}}
  later: {{type: remap, inputs: [bad], source: ".x = ${{EXPR}}"}}
  keep: {{type: filter, inputs: [later], condition: ".x >"}}
sinks:
  out: {{type: blackhole, inputs: [keep]}}
"""
    errors = errors_of(text)
    assert [e.path for e in errors] == ["transforms.bad", "transforms.keep"]
    assert not any("hunter2" in str(e) for e in errors)
    # resolving on one's own machine reads the file and reports its program errors
    resolved = errors_of(text, resolve=True, EXPR="1")
    assert any("hunter2" in str(e) for e in resolved)


def test_nothing_named_by_a_python_stage_is_imported(tmp_path: Path) -> None:
    modules = tmp_path / "mods"
    modules.mkdir()
    marker = tmp_path / "imported"
    (modules / "evil_stage.py").write_text(f"open({str(marker)!r}, 'w').close()\n\ndef f(record):\n    return record\n")
    text = f"""version: 1
sources:
  n: {{type: generate, count: 1}}
transforms:
  code: {{type: python, inputs: [n], function: "evil_stage:f", python_path: ["{modules}"]}}
sinks:
  out: {{type: blackhole, inputs: [code]}}
"""
    import sys

    before = list(sys.path)
    check(text)
    assert not marker.exists() and sys.path == before and "evil_stage" not in sys.modules
    assert [e.path for e in errors_of(text.replace("evil_stage:f", "not a function"))] == [
        "transforms.code.function"]
    # the CLI on the user's own machine imports it (that is the point of a python stage)
    file = tmp_path / "p.yaml"
    file.write_text(text)
    result = conduix("validate", str(file))
    assert result.returncode == 0, result.stderr
    assert marker.exists()


def test_named_outputs_are_known_without_building_stages() -> None:
    text = """version: 1
sources:
  n: {type: generate, count: 1}
transforms:
  route: {type: router, inputs: [n], routes: {big: ".n > 1", small: ".n <= 1"}}
  fix: {type: remap, inputs: [route.big], source: ".x = 1", reroute_dropped: true}
  agg: {type: aggregate, inputs: [route.small], window: {type: tumbling, size: 1}, late: route,
        time_field: .t, aggregations: {c: count}}
sinks:
  a: {type: blackhole, inputs: [fix, fix.dropped, route._unmatched, agg.late]}
"""
    spec = check(text)
    assert spec.components["route"].outputs == ["big", "small", "_unmatched"]
    assert spec.components["fix"].outputs == ["dropped"]
    [error] = errors_of(text.replace("fix.dropped", "fix.lost"))
    assert error.path == "sinks.a.inputs[1]" and "fix.dropped" in (error.hint or "")
