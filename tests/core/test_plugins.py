"""Plugin discovery through real entry points (distributions on sys.path), and their failures."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conduix.errors import PluginError
from conduix.plugins import get_plugin_host
from conduix.registry import ComponentRegistry
from tests.conftest import conduix


def fake_distribution(site: Path, dist: str, module: str, code: str, version: str = "1.2.3") -> None:
    """A real installed distribution as importlib.metadata sees it: a dist-info folder and a module."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[conduix]\n{dist} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(code))


GOOD = """
    from conduix import hookimpl

    @hookimpl
    def conduix_register_components(registry):
        registry.add_sink("shout", "shout_impl:ShoutSink")
"""


def test_plugin_is_listed_with_distribution_and_version(tmp_path):
    fake_distribution(tmp_path, "conduix-shout", "shout_plugin", GOOD)
    proc = conduix("plugins", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    rows = {(r["kind"], r["type"]): r for r in json.loads(proc.stdout)["components"]}
    assert rows[("sink", "shout")]["distribution"] == "conduix-shout"
    assert rows[("sink", "shout")]["version"] == "1.2.3"
    assert rows[("source", "generate")]["distribution"] == "conduix-core"
    # registration is lazy: the component module (which does not even exist) was never imported
    table = conduix("plugins", env={"PYTHONPATH": str(tmp_path)})
    assert "conduix-shout" in table.stdout


def test_missing_component_module_fails_with_install_hint_only_when_used(tmp_path):
    fake_distribution(tmp_path, "conduix-shout", "shout_plugin", GOOD)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("sources: {g: {type: generate, count: 1}}\nsinks: {o: {type: shout, inputs: [g]}}\n")
    proc = conduix("validate", str(pipeline), env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 2
    assert "pip install conduix-shout" in proc.stderr


def test_broken_plugin_is_reported_with_its_distribution_and_skipped(tmp_path):
    fake_distribution(tmp_path, "conduix-broken", "broken_plugin", "raise ImportError('no module named zmq')\n")
    proc = conduix("plugins", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert data["broken"][0]["distribution"] == "conduix-broken"
    assert "zmq" in data["broken"][0]["error"]
    assert any(r["type"] == "generate" for r in data["components"])
    run = conduix("run", "examples/stdin_to_stdout.yaml", stdin='{"a": 1}\n', env={"PYTHONPATH": str(tmp_path)})
    assert run.returncode == 0 and "conduix-broken" in run.stderr


def test_two_plugins_claiming_one_type_is_a_clear_error(tmp_path):
    fake_distribution(tmp_path, "conduix-one", "one_plugin", GOOD)
    fake_distribution(tmp_path, "conduix-two", "two_plugin", GOOD.replace("shout_impl", "other_impl"))
    proc = conduix("plugins", env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 2
    assert "two plugins claim sink type 'shout'" in proc.stderr
    assert "conduix-one" in proc.stderr and "conduix-two" in proc.stderr


def test_registry_rejects_non_lazy_targets_and_duplicates_directly():
    registry = ComponentRegistry()
    registry.add_stage("x", "a.b:C")
    registry.add_stage("x", "a.b:C")  # the same registration twice is harmless
    with pytest.raises(PluginError):
        registry.add_stage("x", "a.b:D")
    with pytest.raises(PluginError):
        registry.add_stage("y", "not-a-target")


def test_builtins_register_through_the_same_hook():
    host = get_plugin_host()
    builtins = [e for e in host.registry.entries() if e.plugin == "builtins"]
    assert {e.type_name for e in builtins} >= {"generate", "file", "stdin", "python", "router", "stdout",
                                               "blackhole"}


def test_example_plugin_package_is_installed_and_runs(tmp_path):
    """examples/conduix-example-plugin is pip-installed by the test session (noxfile)."""
    proc = conduix("plugins", "--json")
    rows = {(r["kind"], r["type"]): r for r in json.loads(proc.stdout)["components"]}
    assert rows[("stage", "mask")]["distribution"] == "conduix-example-plugin"
    out = tmp_path / "masked.jsonl"
    run = conduix("run", "examples/conduix-example-plugin/pipeline.yaml", env={"MASKED_OUT": str(out)})
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 5 and all("password" not in r for r in lines)
    assert lines[0]["email"] == "a***@example.com"


def test_plugin_init_scaffolds_a_working_package(tmp_path):
    proc = conduix("plugin", "init", "upper", "--directory", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "conduix-upper"
    assert (root / "pyproject.toml").read_text().count('upper = "conduix_upper.plugin"') == 1
    # make it discoverable the way pip would, then run its own test with it
    site = tmp_path / "site"
    info = site / "conduix_upper-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: conduix-upper\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[conduix]\nupper = conduix_upper.plugin\n")
    import subprocess
    import sys

    env_path = f"{site}:{root / 'src'}"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                            capture_output=True, text=True, cwd=root, env={**__import__("os").environ,
                                                                          "PYTHONPATH": env_path})
    assert result.returncode == 0, result.stdout + result.stderr
    assert conduix("plugin", "init", "upper", "--directory", str(tmp_path)).returncode == 2


def test_component_reference_in_docs_is_up_to_date():
    from conduix.config.reference import components_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "components.md"
    expected = components_markdown(get_plugin_host().registry, only_plugin="builtins")
    assert docs.read_text() == expected, "regenerate: python -m conduix.config.reference > docs/components.md"
