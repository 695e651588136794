"""``conduix test FILE``: unit tests for pipeline configs, like ``vector test`` and ``bento test``.

A tests file sits next to the pipeline (``orders.yaml`` -> ``orders.test.yaml``)::

    pipeline: orders.yaml              # optional; default: the file name without '.test'
    tests:
      - name: totals per user
        inputs:
          - insert_at: per_user        # records go into this component (a source is replaced by them)
            records: [{user: a, amount: 2}, {user: a, amount: 3}]
        outputs:
          - extract_from: per_user     # a component, 'component.output', or a sink (what it would write)
            count: 1                   # optional: exactly this many records
            conditions: ['.total == 5', '.user == "a"']

The pipeline runs in-process with its sources replaced by the given records and its sinks by collectors.
Every extracted record must satisfy every condition (remap conditions), and at least one record must come
out unless ``count: 0`` says otherwise. Exit 0 when every test passes, 1 when one fails, 2 for a bad file.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from conduix.config import PipelineSpec, load_pipeline, pipeline_from_dict
from conduix.errors import ConfigError, RemapCompileError, RemapError
from conduix.remap import compile_condition
from conduix.testing import run_pipeline, test_registry

__all__ = ["TestCase", "TestOutcome", "command", "run_tests"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestInput(_Strict):
    insert_at: str = Field(..., description="The component the records are fed into.")
    records: list[dict[str, Any]] = Field(..., description="The records.")
    batch_size: int | None = Field(None, ge=1, description="Records per batch (1: one at a time, in order).")


class TestOutput(_Strict):
    extract_from: str = Field(..., description="component, component.output, or a sink id.")
    conditions: list[str] = Field(default_factory=list, description="Remap conditions every record must meet.")
    count: int | None = Field(None, ge=0, description="Exactly this many records.")


class TestCase(_Strict):
    __test__ = False
    name: str
    inputs: list[TestInput] = Field(..., min_length=1)
    outputs: list[TestOutput] = Field(..., min_length=1)


class TestsFile(_Strict):
    __test__ = False
    pipeline: str | None = None
    tests: list[TestCase] = Field(..., min_length=1)


@dataclass
class TestOutcome:
    """One test's result: the failures (empty when it passed)."""

    __test__ = False
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _files(path: Path) -> tuple[Path, TestsFile]:
    """The tests file and its pipeline, from either of the two paths."""
    tests_path = path
    if not path.name.endswith((".test.yaml", ".test.yml")):
        tests_path = path.with_name(path.name.replace(path.suffix, f".test{path.suffix}"))
    try:
        raw = yaml.safe_load(tests_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the tests file {tests_path}: {exc}",
                          hint="write tests in <pipeline>.test.yaml next to the pipeline") from None
    try:
        tests = TestsFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{tests_path}: {problems}", file=str(tests_path)) from None
    if tests.pipeline is not None:
        pipeline = tests_path.parent / tests.pipeline
    elif path != tests_path:
        pipeline = path
    else:
        pipeline = tests_path.with_name(tests_path.name.replace(".test.", "."))
    return pipeline, tests


def _test_config(spec: PipelineSpec, raw: dict[str, Any], case: TestCase) -> tuple[dict[str, Any], list[str]]:
    """The pipeline rewired for one test: list sources at the insert points, collect sinks at the extracts."""
    components = spec.components
    for item in case.inputs:
        if item.insert_at not in components or components[item.insert_at].kind == "sink":
            raise ConfigError(f"test {case.name!r}: insert_at {item.insert_at!r} is not a source or transform of "
                              f"the pipeline", hint=f"one of: {', '.join(sorted(components))}")
    config: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("sources", "transforms", "sinks")}
    config.update(sources={}, transforms={}, sinks={})
    fed: dict[str, str] = {}
    for n, item in enumerate(case.inputs):
        if components[item.insert_at].kind == "source":
            config["sources"][item.insert_at] = {"type": "list", "records": item.records,
                                                 "batch_size": item.batch_size}
        else:
            fed[item.insert_at] = f"_test_input_{n}"
            config["sources"][f"_test_input_{n}"] = {"type": "list", "records": item.records,
                                                     "batch_size": item.batch_size}
    present = set(config["sources"]) - set(fed.values())
    for cspec in spec.topological():  # stages that the injected records can reach, with those inputs only
        if cspec.kind != "stage":
            continue
        inputs = [str(ref) for ref in cspec.inputs if ref.component in present]
        if cspec.id in fed:
            inputs = [fed[cspec.id]]
        if inputs:
            config["transforms"][cspec.id] = {**raw["transforms"][cspec.id], "inputs": inputs}
            present.add(cspec.id)
    names = []
    for n, out in enumerate(case.outputs):
        component = out.extract_from.partition(".")[0]
        target = components.get(component)
        if target is None:
            raise ConfigError(f"test {case.name!r}: extract_from {out.extract_from!r} names no component",
                              hint=f"one of: {', '.join(sorted(components))}")
        inputs = ([str(ref) for ref in target.inputs if ref.component in present] if target.kind == "sink"
                  else [out.extract_from] if component in present else [])
        if not inputs:
            raise ConfigError(f"test {case.name!r}: no injected record can reach {out.extract_from!r}")
        names.append(f"_test_output_{n}")
        config["sinks"][names[-1]] = {"type": "collect", "inputs": inputs}
    return config, names


def _check(case: TestCase, run: Any, names: list[str]) -> list[str]:
    failures = []
    for out, name in zip(case.outputs, names):
        records = run.records(name)
        where = f"output {out.extract_from!r}"
        if out.count is not None and len(records) != out.count:
            failures.append(f"{where}: expected {out.count} record(s), got {len(records)}")
        elif out.count is None and not records:
            failures.append(f"{where}: no records came out")
        for source in out.conditions:
            condition = compile_condition(source)
            for index, record in enumerate(records):
                try:
                    ok = condition.test(record)
                except RemapError as exc:
                    ok, source = False, f"{source} ({exc})"
                if not ok:
                    failures.append(f"{where}: condition {source!r} is false for record {index}: {record}")
                    break
    return failures


def run_tests(path: str | Path) -> list[TestOutcome]:
    """Run the tests of a pipeline (``path``: the pipeline or its ``.test.yaml``)."""
    pipeline, tests = _files(Path(path))
    spec = load_pipeline(pipeline)
    if spec.format == "actor":
        raise ConfigError("conduix test works on pipelines in the flat format (sources/transforms/sinks)",
                          file=str(pipeline))
    raw: dict[str, Any] = spec.raw
    outcomes = []
    for case in tests.tests:
        for out in case.outputs:
            for source in out.conditions:
                try:
                    compile_condition(source)
                except RemapCompileError as exc:
                    raise ConfigError(f"test {case.name!r}: condition {source!r}: {exc}") from None
        config, names = _test_config(spec, raw, case)
        outcome = TestOutcome(case.name)
        with tempfile.TemporaryDirectory(prefix="conduix-test-") as state:
            test_spec = pipeline_from_dict(config, registry=test_registry(), name=spec.name)
            run = run_pipeline(test_spec, state_dir=state, raise_on_error=False)
            if not run.ok:
                outcome.failures.append(f"the pipeline failed: {run.result.error}")
            else:
                outcome.failures.extend(_check(case, run, names))
        outcomes.append(outcome)
    return outcomes


@click.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def command(files: tuple[Path, ...]) -> None:
    """Run the unit tests of pipelines (FILES: pipelines or their .test.yaml files); exit 1 when one fails."""
    failed = 0
    total = 0
    for file in files:
        for outcome in run_tests(file):
            total += 1
            if outcome.passed:
                click.echo(f"{file}: {outcome.name} ... passed")
                continue
            failed += 1
            click.secho(f"{file}: {outcome.name} ... FAILED", fg="red")
            for failure in outcome.failures:
                click.echo(f"    {failure}")
    click.echo(f"{total - failed} passed, {failed} failed")
    if failed:
        raise SystemExit(1)
