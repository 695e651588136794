"""``conduix remap``: JSON lines in, JSON lines out; errors per event on stderr; the REPL."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from conduix.cli import cli


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2 keeps stderr apart already
        return CliRunner()


def test_runs_program_over_json_lines(tmp_path: Path) -> None:
    program = tmp_path / "p.vrl"
    program.write_text(". = parse_json!(.message)\n.level = upcase!(.level)\n")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([
        json.dumps({"message": json.dumps({"level": "info", "n": 1})}),
        json.dumps({"message": "not json"}),
        "",
        "{broken",
        json.dumps({"message": json.dumps({"level": "warn"})}),
    ]) + "\n")
    result = _runner().invoke(cli, ["remap", str(program), "--input", str(events)])
    assert result.exit_code == 1  # some events failed
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"level": "INFO", "n": 1}, {"level": "WARN"}]
    assert f"{events}:2: function call error for \"parse_json\"" in result.stderr
    assert "at line 1, column 5" in result.stderr
    assert f"{events}:4: invalid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_reads_stdin_and_prints_timestamps_as_rfc3339() -> None:
    result = _runner().invoke(cli, ["remap", "-e", ".t = t'2020-10-21T16:00:00Z'\n.n = .n + 1"],
                              input='{"n": 1}\n')
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"n": 2, "t": "2020-10-21T16:00:00Z"}


def test_aborted_events_are_dropped() -> None:
    result = _runner().invoke(cli, ["remap", "-e", "if .drop == true { abort }"],
                              input='{"drop": true}\n{"drop": false}\n')
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ['{"drop":false}']
    assert "dropped: aborted" in result.stderr


def test_compile_error_is_one_clear_message_with_exit_code_2(tmp_path: Path) -> None:
    program = tmp_path / "bad.vrl"
    program.write_text(".a = upcse!(.b)\n")
    result = _runner().invoke(cli, ["remap", str(program)], input="{}\n")
    assert result.exit_code == 2
    assert 'call to undefined function "upcse"' in result.stderr
    assert "did you mean upcase" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors() -> None:
    result = _runner().invoke(cli, ["remap"], input="")
    assert result.exit_code == 2
    assert "missing PROGRAM_FILE" in result.stderr


def test_repl_keeps_event_and_variables(tmp_path: Path) -> None:
    events = tmp_path / "first.jsonl"
    events.write_text('{"level": "info"}\n')
    session = "x = 41\n.answer = x + 1\n.level = upcase(.level)\n.level = upcase!(.level)\n:event\n:quit\n"
    result = _runner().invoke(cli, ["remap", "--repl", "--input", str(events)], input=session)
    assert result.exit_code == 0
    outputs = [re.sub(r"^(\$ )+", "", line) for line in result.stdout.splitlines() if line.strip("$ ")]
    assert outputs[:3] == ["41", "42", '"INFO"']
    assert json.loads(outputs[3]) == {"level": "INFO", "answer": 42}
    # the error names the position in the line just typed, not in the replayed session
    assert "line 1, column 10: unhandled fallible function call" in result.stderr


def test_repl_lists_functions_and_describes_one() -> None:
    session = ":functions\n:functions parse_\n:help crc\n:help nope\n:quit\n"
    result = _runner().invoke(cli, ["remap", "--repl"], input=session)
    assert result.exit_code == 0
    out = result.stdout
    from conduix.remap import function_names

    listed = re.findall(r"\((\d+) functions\)", out)
    assert listed[0] == str(len(function_names()))
    for name in ("upcase", "parse_json", "decode_zstd", "community_id", "replace_with"):
        assert re.search(rf"\b{name}\b", out), name
    assert int(listed[1]) == sum(1 for n in function_names() if "parse_" in n)
    assert 'crc(value: string, [algorithm: string = "CRC_32_ISO_HDLC"]) -> string' in out
    assert "example: crc(\"foo\") == \"2356372769\"" in out
    assert "no function 'nope'" in out
