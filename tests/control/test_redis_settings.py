"""The ResilientClient settings under the original README's names: from the settings file (the README's block
verbatim), the environment and the command line; durations as strings; a bad value is one clear error."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from conduix.errors import ConfigError
from conduix_control.cli import agent as agent_group
from conduix_control.errors import RedisUnavailableError
from conduix_control.redis_client import ResilientClient, ResilientSettings
from conduix_control.redis_client._client import Backoff
from tests.control.conftest import RedisServer

START = agent_group.commands["start"]

#: the README's "ResilientClient Key Settings" block, verbatim (with the README's other YAML blocks)
README_BLOCK = (Path(__file__).resolve().parents[1] / "original_readme" / "resilient-client.yaml").read_text()


def settings_of(command: click.Command, *args: str) -> ResilientSettings:
    """The ResilientSettings ``command`` would start with (the agent is built, not run)."""
    from conduix_control.cli import _redis_settings

    with command.make_context(command.name or "x", list(args)) as ctx:
        return _redis_settings(ctx.params["redis_settings"])  # type: ignore[no-any-return]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in [n for n in os.environ if n.startswith("CONDUIX_REDIS_") or n == "CONDUIX_CONFIG"]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_the_readme_block_in_the_settings_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    config = tmp_path / "conduix.yaml"
    indented = "".join(f"    {line}\n" if line else "\n" for line in README_BLOCK.splitlines())
    config.write_text(f"agent:\n  control_url: http://control:8470\n  redis:\n{indented}"
                      f"control:\n  redis:\n    open_timeout: 1m\n    enable_local_cache: false\n")
    s = settings_of(START, "--config", str(config))
    assert (s.max_retries, s.initial_backoff, s.max_backoff, s.backoff_multiplier) == (0, 0.1, 30.0, 2.0)
    assert (s.failure_threshold, s.success_threshold, s.open_timeout) == (5, 2, 30.0)
    assert (s.enable_local_cache, s.local_cache_ttl, s.local_cache_max_size) == (True, 300.0, 1000)
    assert s == ResilientSettings()  # the README's values are the defaults
    serve = __import__("conduix_control.cli", fromlist=["control"]).control.commands["serve"]
    c = settings_of(serve, "--config", str(config))
    assert (c.open_timeout, c.enable_local_cache) == (60.0, False)


def test_a_pipeline_file_of_these_settings_is_recognised_by_the_settings_names_core_knows() -> None:
    from conduix.config.loader import REDIS_CLIENT_SETTINGS

    assert set(ResilientSettings.model_fields) == REDIS_CLIENT_SETTINGS


def test_the_environment_beats_the_file_and_the_command_line_beats_both(tmp_path: Path,
                                                                         clean_env: pytest.MonkeyPatch) -> None:
    config = tmp_path / "conduix.yaml"
    config.write_text("agent:\n  control_url: http://c\n  redis: {max_backoff: 10s, open_timeout: 20s, "
                      "failure_threshold: 7}\n")
    clean_env.setenv("CONDUIX_REDIS_MAX_BACKOFF", "5m")
    clean_env.setenv("CONDUIX_REDIS_BACKOFF_CAP", "1s")  # the older name: the README's name wins
    clean_env.setenv("CONDUIX_REDIS_OPEN_TIMEOUT", "250ms")
    s = settings_of(START, "--config", str(config))
    assert (s.max_backoff, s.open_timeout, s.failure_threshold) == (300.0, 0.25, 7)
    s = settings_of(START, "--config", str(config), "--redis", "open_timeout=2s", "--redis", "max_retries=4")
    assert (s.max_backoff, s.open_timeout, s.max_retries, s.failure_threshold) == (300.0, 2.0, 4, 5)


def test_older_variable_names_take_duration_strings(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CONDUIX_REDIS_BACKOFF_CAP", "30s")  # crashed the agent with a ValueError before
    clean_env.setenv("CONDUIX_REDIS_BREAKER_RESET_TIMEOUT", "1")
    s = ResilientSettings.from_env()
    assert (s.max_backoff, s.open_timeout) == (30.0, 1.0)


@pytest.mark.parametrize(("env", "given", "complaint"), [
    ({"CONDUIX_REDIS_MAX_BACKOFF": "soon"}, {}, "CONDUIX_REDIS_MAX_BACKOFF='soon': 'soon' is not a duration"),
    ({"CONDUIX_REDIS_BACKOFF_CAP": "-3s"}, {}, "CONDUIX_REDIS_BACKOFF_CAP='-3s'"),
    ({"CONDUIX_REDIS_BACKOFF_CAP": "-3s"}, {}, "(max_backoff: Longest wait"),
    ({}, {"failure_threshold": "0"}, "Redis client setting failure_threshold='0': Input should be greater"),
    ({}, {"max_backof": "1s"}, "unknown Redis client setting 'max_backof'"),
    ({}, {"max_backof": "1s"}, "did you mean 'max_backoff'?"),
    ({}, {"enable_local_cache": "maybe"}, "Redis client setting enable_local_cache='maybe'"),
])
def test_a_bad_value_is_one_error_naming_the_setting(env: dict[str, str], given: dict[str, str],
                                                     complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ResilientSettings.load(given, env)
    assert complaint in str(caught.value)


def test_the_agent_reports_a_bad_setting_in_one_line_without_a_traceback(cli) -> None:
    result = cli("agent", "start", "--control-url", "http://127.0.0.1:9", "--redis-url", "redis://127.0.0.1:9/0",
                 env={"CONDUIX_REDIS_MAX_BACKOFF": "thirty seconds", "CONDUIX_REDIS_OPEN_TIMEOUT": "x"})
    assert result.returncode == 2, result.stderr
    assert "CONDUIX_REDIS_MAX_BACKOFF='thirty seconds': 'thirty seconds' is not a duration" in result.stderr
    assert "CONDUIX_REDIS_OPEN_TIMEOUT='x'" in result.stderr  # every bad setting at once
    assert "Traceback" not in result.stderr


def test_backoff_grows_by_the_multiplier_up_to_the_maximum() -> None:
    backoff = Backoff(ResilientSettings(initial_backoff="100ms", backoff_multiplier=3, max_backoff="1s"))
    waits = [backoff.compute(n) for n in range(1, 6)]
    for wait, expected in zip(waits, [0.1, 0.3, 0.9, 1.0, 1.0]):
        assert expected * 0.8 <= wait <= expected * 1.2


@pytest.mark.integration("redis")
@pytest.mark.parametrize("cache", [True, False])
def test_the_local_cache_switch(redis_server: RedisServer, cache: bool) -> None:
    client = ResilientClient(redis_server.url, ResilientSettings(enable_local_cache=cache, socket_timeout=0.5))
    client.set("k", "v1")
    assert client.get("k") == b"v1"
    redis_server.kill()
    if cache:
        assert client.get("k") == b"v1"
    else:
        with pytest.raises(RedisUnavailableError):
            client.get("k")
    client.close()
