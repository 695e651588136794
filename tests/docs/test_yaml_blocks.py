"""Every YAML block of README.md and docs/ is checked against the code, so option names and types cannot drift.

- A block with no marker is a complete pipeline: it validates as written, without warnings; and when it needs
  nothing from outside (``generate`` sources with a ``count``, sinks to stdout, nowhere or a relative file; no
  ``python`` stage) it runs to success as well.
- ``<!-- excerpt -->``: part of a pipeline (some sections, or component entries indented under an implied
  ``sources:``/``transforms:``/``sinks:``). It is completed with a ``generate`` source for every input it names
  but does not define and a ``blackhole`` sink for what it leaves unconsumed, then validated.
- ``<!-- not-a-pipeline -->``, or YAML with no pipeline key at all (compose files, Helm values, alert rules,
  Kubernetes manifests, settings files, project files): it must be valid YAML.

``${VAR}`` without a default stands for "1" (the reader's own value). The convention: docs/contributing.md.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conduix import Pipeline
from conduix.config import PipelineSpec, load_pipeline_text
from conduix.config.model import PipelineHeader
from conduix.errors import ConfigError
from conduix.plugins import get_plugin_host
from tests.docs.snippets import MARKERS, Block, all_blocks

SECTIONS = {"source": "sources", "stage": "transforms", "sink": "sinks"}
SELF_CONTAINED_SINKS = {"stdout", "blackhole", "file"}
#: top-level keys that make YAML a pipeline (version, name, type and description are too common elsewhere;
#: pipeline and stages: the original README's shapes)
PIPELINE_KEYS = set(PipelineHeader.model_fields) - {"version", "name", "type", "description"} | {"pipeline", "stages"}
_FUNCTION = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_]\w*)$")
_VARIABLE = re.compile(r"\$\{(?!params\.)([A-Za-z_][A-Za-z0-9_]*)(:?-[^}]*)?\}")
HOW = ("If the block is part of a pipeline, put <!-- excerpt --> on the line before its ``` fence (it is then "
       "completed with a source for each input it names and a sink); if it is not a pipeline at all (compose, "
       "Helm values, alert rules, a settings file), put <!-- not-a-pipeline --> there. See docs/contributing.md.")

BLOCKS = all_blocks("yaml", "yml")


@pytest.fixture(scope="module")
def registry() -> Any:
    return get_plugin_host().registry


@pytest.fixture
def stub_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Writes a module for each ``function: module:name`` of a block (the reader's own code), importable."""
    written: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(data: Any) -> None:
        for module, name in functions(data):
            parts = module.split(".")
            for depth in range(1, len(parts)):
                package = tmp_path.joinpath(*parts[:depth])
                package.mkdir(exist_ok=True)
                (package / "__init__.py").touch()
            path = tmp_path.joinpath(*parts[:-1], parts[-1] + ".py")
            with path.open("a") as out:
                out.write(f"def {name}(record, *args, **kwargs):\n    return record\n")
            written.extend(".".join(parts[:depth]) for depth in range(1, len(parts) + 1))

    yield write
    for module in written:
        sys.modules.pop(module, None)


def functions(data: Any) -> Iterator[tuple[str, str]]:
    """The ``module:name`` values of ``function`` keys, anywhere in ``data``."""
    if isinstance(data, dict):
        for key, value in data.items():
            found = _FUNCTION.match(value) if key == "function" and isinstance(value, str) else None
            if found:
                yield found.group(1), found.group(2)
            else:
                yield from functions(value)
    elif isinstance(data, list):
        for item in data:
            yield from functions(item)


def placeholders(text: str) -> dict[str, str]:
    """A value for each ``${VAR}`` without a default (the environment is not read: docs must not depend on it)."""
    return {m.group(1): "1" for m in _VARIABLE.finditer(text) if m.group(2) is None}


def is_pipeline_like(data: Any, registry: Any) -> bool:
    if not isinstance(data, dict):
        return False
    if PIPELINE_KEYS & set(data) - ({"pipeline"} if not isinstance(data.get("pipeline"), dict) else set()):
        return True  # (a test file's 'pipeline:' names a file)
    return bool(data) and all(isinstance(v, dict) and kind_of(v.get("type"), registry) for v in data.values())


def kind_of(type_name: Any, registry: Any) -> str | None:
    kinds = [k for k in SECTIONS if isinstance(type_name, str) and type_name in registry.names(k)]
    return kinds[0] if len(kinds) == 1 else None


def complete(block: Block, data: dict[str, Any], registry: Any) -> str:
    """The excerpt's own text (lines kept where they are in the Markdown file) plus what makes it a pipeline."""
    header = ""
    if not PIPELINE_KEYS & set(data):  # component entries under an implied section
        kinds = {kind_of(v.get("type"), registry) for v in data.values()}
        if len(kinds) != 1 or not block.text[:1].isspace():
            pytest.fail(f"{block.where}: an excerpt of component entries must have one kind and be indented under "
                        "its section; write the section (sources:, transforms: or sinks:) above them")
        header = f"{SECTIONS[kinds.pop()]}:\n"  # type: ignore[index]
        data = {header[:-2]: data}
    sections = {s: data.get(s) or {} for s in SECTIONS.values()}
    defined = {cid for entries in sections.values() for cid in entries}
    consumed: dict[str, set[str]] = {}  # base id -> the outputs asked of it ("" for its main output)
    for entries in sections.values():
        for entry in entries.values():
            for ref in (entry or {}).get("inputs") or []:
                base, _, output = str(ref).partition(".")
                consumed.setdefault(base, set()).add(output)
    extra: dict[str, Any] = {}
    missing = sorted(set(consumed) - defined)
    if missing or not sections["sources"]:
        if "sources" in data:
            pytest.fail(f"{block.where}: the excerpt has a sources: section but not {', '.join(missing)}, which it "
                        "names as inputs; add them to it")
        names = missing or ["_doc_source"]
        extra["sources"] = {name: {"type": "generate", "count": 1,
                                   **({"on_error": "dead_letter"} if "dead_letter" in consumed.get(name, ()) else {})}
                            for name in names}
    if "sinks" not in data:
        produced = [*sections["sources"], *sections["transforms"], *extra.get("sources", {})]
        loose = [cid for cid in produced if "" not in consumed.get(cid, set())] or produced
        extra["sinks"] = {"_doc_sink": {"type": "blackhole", "inputs": loose}}
    padding = "\n" * (block.line - 1 - header.count("\n"))
    return padding + header + block.text + (yaml.safe_dump(extra, sort_keys=False) if extra else "")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_yaml_block(block: Block, registry: Any, stub_functions: Any, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    if block.marker is not None and block.marker not in MARKERS:
        pytest.fail(f"{block.where}: unknown marker <!-- {block.marker} --> before the block; use one of "
                    f"{', '.join(f'<!-- {m} -->' for m in MARKERS)} (docs/contributing.md)")
    try:
        documents = list(yaml.safe_load_all(block.text))
    except yaml.YAMLError as exc:
        pytest.fail(f"{block.where}: not valid YAML: {exc}\nIf it is not YAML (an illustration), use another "
                    "fence language, such as ```text.")
    if block.marker == "not-a-pipeline":
        return
    data = documents[0] if len(documents) == 1 else None
    if not is_pipeline_like(data, registry):
        if block.marker == "excerpt":
            keys = ", ".join(sorted(PIPELINE_KEYS))
            pytest.fail(f"{block.where}: marked as an excerpt, but has no pipeline key ({keys}) nor component "
                        "entries with a known type")
        return  # not a pipeline at all: valid YAML is all there is to check
    text = complete(block, data, registry) if block.marker == "excerpt" else "\n" * (block.line - 1) + block.text
    stub_functions(data)
    error: ConfigError | None = None
    try:
        spec = load_pipeline_text(text, file=block.path, registry=registry, env=placeholders(block.text))
    except ConfigError as exc:
        error = exc
    if error is not None:
        what = "this excerpt, completed with a source and a sink," if block.marker == "excerpt" else "this pipeline"
        pytest.fail(f"{block.where}: {what} does not validate:\n{error}\n\nFix the block (the lines above are "
                    f"lines of {block.path}).{'' if block.marker else ' ' + HOW}", pytrace=False)
    if block.marker is None and spec.warnings:
        pytest.fail(f"{block.where}: this pipeline validates with warnings:\n" + "\n".join(spec.warnings) +
                    f"\nFix the block. {HOW}", pytrace=False)
    if block.marker is None and self_contained(spec):
        monkeypatch.chdir(tmp_path)
        result = Pipeline(spec).run(state_dir=tmp_path / "state", handle_signals=False)
        assert result.ok, f"{block.where}: this pipeline validates but its run fails: {result.error}"


def self_contained(spec: PipelineSpec) -> bool:
    """The pipeline reads and writes nothing outside the directory it runs in, and ends by itself."""
    for component in spec.components.values():
        config = component.config
        if component.kind == "source" and (component.type_name != "generate" or getattr(config, "count", None) is None):
            return False
        if component.kind == "sink" and (component.type_name not in SELF_CONTAINED_SINKS
                                         or Path(str(getattr(config, "path", "") or "")).is_absolute()):
            return False
        if component.type_name == "python":
            return False
    return True


def test_the_docs_have_yaml_blocks_of_each_kind() -> None:
    """The extraction works: there are complete pipelines and excerpts (a test that finds nothing checks nothing)."""
    markers = {b.marker for b in BLOCKS}
    assert None in markers and "excerpt" in markers and len(BLOCKS) > 20


def test_an_excerpt_is_completed_and_a_wrong_option_in_it_is_reported_at_its_markdown_line(registry: Any) -> None:
    block = Block("docs/x.md", 40, "yaml", "sinks:\n  search:\n    type: elasticsearch\n    inputs: [parse]\n"
                  "    endpoints: [\"${ES_URL}\"]\n    on_eror: dead_letter\n  rejected:\n    type: file\n"
                  "    inputs: [search.dead_letter]\n", "excerpt")
    text = complete(block, yaml.safe_load(block.text), registry)
    assert text.count("\n") > 40 and "parse:" in text and "type: generate" in text
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(text, file=block.path, registry=registry, env=placeholders(block.text))
    assert "docs/x.md:45" in str(info.value) and "on_eror" in str(info.value)  # the typo, at its line
    assert "missing required key 'path'" in str(info.value)  # and what is missing, all at once


def test_a_self_contained_pipeline_is_run_and_one_that_needs_a_server_is_only_validated(
        registry: Any, stub_functions: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = ("name: doc\nsources:\n  n: {type: generate, count: 3}\ntransforms:\n  t: {type: remap, inputs: [n], "
            "source: '.x = 1'}\nsinks:\n  out: {type: file, inputs: [t], path: out.jsonl}\n")
    spec = load_pipeline_text(text, registry=registry)
    assert self_contained(spec)
    test_yaml_block(Block("docs/x.md", 3, "yaml", text, None), registry, stub_functions, tmp_path, monkeypatch)
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3  # it ran, in the test's directory
    writes_elsewhere = text.replace("path: out.jsonl", "path: /var/log/out.jsonl")
    endless = text.replace("{type: generate, count: 3}", "{type: generate}")
    assert not self_contained(load_pipeline_text(writes_elsewhere, registry=registry))
    assert not self_contained(load_pipeline_text(endless, registry=registry))
