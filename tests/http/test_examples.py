"""The example pipelines of the messaging and HTTP connectors validate."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = sorted(str(p.relative_to(Path(__file__).resolve().parents[2]))
                  for pattern in ("nats_*.yaml", "amqp_*.yaml", "http_*.yaml")
                  for p in (Path(__file__).resolve().parents[2] / "examples").glob(pattern))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_validates(cli, example: str) -> None:
    result = cli("validate", example)
    assert result.returncode == 0, result.stdout + result.stderr
