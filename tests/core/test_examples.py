"""The core's own examples run with ``conduix run`` and do what their comments say (their .test.yaml unit
tests: tests/core/stateful/test_cli_test_and_dlq.py; quickstart and stdin_to_stdout: test_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import conduix
from tests.running import EXAMPLES


def printed(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_aggregate_example_sums_revenue_per_user_and_minute(tmp_path: Path) -> None:
    """600 orders, one a second over ten minutes, a third of them failed: per minute, ada's 20 paid orders
    and bob's 20; nothing is late."""
    proc = conduix("run", str(EXAMPLES / "aggregate.yaml"), "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    windows = printed(proc.stdout)
    assert len(windows) == 20
    ada = [w for w in windows if w["user"] == "ada"]
    bob = [w for w in windows if w["user"] == "bob"]
    assert len(ada) == len(bob) == 10
    assert all((w["orders"], w["revenue"], w["biggest"]) == (20, 250.0, 12.5) for w in ada)
    assert all((w["orders"], w["revenue"], w["biggest"]) == (20, 60, 3) for w in bob)
    late = tmp_path / ".conduix" / "late-orders.jsonl"
    assert not late.exists() or late.read_text() == ""


def test_enrich_example_adds_profiles_drops_repeats_and_throttles(tmp_path: Path) -> None:
    """Users 1 and 2 get their profile from examples/data/users.csv, user 7 the default; at most 3 clicks per
    user pass in the minute, the rest go to the throttled output."""
    proc = conduix("run", str(EXAMPLES / "enrich.yaml"), "--no-progress")  # the table path is the repository's
    assert proc.returncode == 0, proc.stderr
    clicks = printed(proc.stdout)
    assert sorted(c["user"] for c in clicks) == [1, 1, 1, 2, 2, 2, 7, 7, 7]
    profiles = {c["user"]: c["profile"] for c in clicks}
    assert profiles == {1: {"name": "ada", "tier": "gold"}, 2: {"name": "grace", "tier": "silver"},
                        7: {"name": "unknown", "tier": "free"}}
