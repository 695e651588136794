"""The flat-format example of the README runs as written: remap (`. = parse_json!(.message)`), filter,
a rerouted output for lines that are not JSON."""

from __future__ import annotations

import json
import re

from tests.conftest import ROOT, conduix


def readme_pipeline() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"```yaml\n(version: 1\nname: orders\nsettings:.*?)```", text, re.S).group(1)


def test_the_readme_flat_example_runs(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("\n".join([
        json.dumps({"level": "info", "msg": "started", "debug": {"pid": 1}}),
        "this line is not JSON",
        json.dumps({"level": "error", "msg": "disk full", "debug": {"pid": 1}}),
    ]) + "\n")
    config = readme_pipeline().replace("/var/log/app/*.log", str(logs / "*.log"))
    config = config.replace("follow: true", "follow: false")
    path = tmp_path / "orders.yaml"
    path.write_text(config)
    assert conduix("validate", str(path)).returncode == 0
    proc = conduix("run", str(path), env={"ARCHIVE_DIR": str(tmp_path)})
    assert proc.returncode == 3, proc.stderr  # completed; the line that is not JSON counts as an error of parse
    assert "succeeded with errors" in proc.stderr and "(parse: 1)" in proc.stderr
    archived = [json.loads(line) for line in (tmp_path / "orders.jsonl").read_text().splitlines()]
    assert archived == [{"level": "INFO", "msg": "started"}, {"level": "ERROR", "msg": "disk full"}]
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [{"level": "ERROR", "msg": "disk full"}]
    rejected = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [r["message"] for r in rejected] == ["this line is not JSON"]
