"""The original README's pipeline shapes: every YAML block of it (verbatim copies in tests/original_readme/)
validates, or, for snippets, fails only for what is missing, with hints in the shape the user wrote; the
original shapes load into the same model as today's; `conduix config normalize` shows that model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conduix.config import load_pipeline, load_pipeline_text
from conduix.errors import ConfigError
from tests.conftest import ROOT, conduix

README = ROOT / "tests" / "original_readme"


def problems(text: str) -> list[tuple[str | None, str, str | None]]:
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(text, file="p.yaml")
    return [(e.path, e.message, e.hint) for e in info.value.errors]


def shape_of(spec):
    """What the runtime builds from: components (kind, type, options, inputs) and the supervision tree."""
    components = {cid: (c.kind, c.type_name, c.config.model_dump(), [str(r) for r in c.inputs])
                  for cid, c in spec.components.items()}

    def tree(node):
        return None if node is None else (node.settings.model_dump(),
                                          [c if isinstance(c, str) else tree(c) for c in node.children])

    return spec.name, spec.format, components, tree(spec.supervision)


def test_the_flat_example_validates_as_written():
    spec = load_pipeline(README / "flat.yaml")
    assert spec.name == "log-pipeline"
    assert [(c.id, c.kind, c.type_name) for c in spec.topological()] == [
        ("kafka_input", "source", "kafka"), ("parse", "stage", "remap"), ("elasticsearch", "sink", "elasticsearch")]
    assert spec.warnings == []
    assert conduix("validate", str(README / "flat.yaml")).returncode == 0


@pytest.mark.parametrize("version", ["1", '"1"', "1.0", '"1.0"'])
def test_version_is_accepted_as_the_original_writes_it(version):
    text = (README / "flat.yaml").read_text().replace('version: "1.0"', f"version: {version}")
    assert load_pipeline_text(text).name == "log-pipeline"


@pytest.mark.parametrize("version", ["2", '"2.0"', "true", "[1]"])
def test_other_versions_are_refused_at_their_place(version):
    text = (README / "flat.yaml").read_text().replace('version: "1.0"', f"version: {version}")
    [(path, message, _)] = problems(text)
    assert path == "version" and "version 1" in message


def test_the_hierarchical_snippet_fails_only_for_what_it_leaves_out():
    assert problems((README / "hierarchical.yaml").read_text()) == [
        ("pipeline.children[0].children[0].config", "missing required key 'topics'", "add 'topics:' here"),
        ("pipeline", "the pipeline has no sink",
         "add a child with 'type: sink' after the last stage, e.g. config: {sink_type: elasticsearch, "
         "endpoints: [...]}"),
    ]


def test_the_supervision_example_lacks_only_a_sink():
    [(path, message, hint)] = problems((README / "supervision.yaml").read_text())
    assert (path, message) == ("pipeline", "the pipeline has no sink")
    assert "sinks:" not in hint and "type: sink" in hint


def test_the_supervision_examples_source_supervisor_counts_its_ten_restarts_within_the_roots_300_s():
    spec = load_pipeline_text((README / "supervision.yaml").read_text() + SINK, file="p.yaml")
    sources = spec.supervision.children[0]
    assert (sources.id, sources.settings.max_restarts, sources.settings.within_seconds) == (
        "SourceSupervisor", 10, 300)


SINK = """\
    - name: "Out"
      type: sink
      config: {sink_type: stdout}
"""


def test_the_router_snippet_lacks_only_a_source_and_the_settings_it_leaves_out():
    found = problems((README / "router.yaml").read_text())
    assert found == [
        ("stages[2].config", "missing required key 'window'", "add 'window:' here"),
        ("stages[2].config", "missing required key 'aggregations'", "add 'aggregations:' here"),
        ("stages", "the pipeline has no source",
         "start 'stages:' with a source, e.g. {id: in, type: kafka, config: {brokers: [...], topics: [...]}}"),
    ]


def test_the_resilient_client_block_is_yaml_of_settings():
    """Not a pipeline: the agent's and control plane's ResilientClient settings; tests/control/test_redis_settings.py
    reads this copy into them."""
    settings = yaml.safe_load((README / "resilient-client.yaml").read_text())
    assert settings["initial_backoff"] == "100ms" and settings["enable_local_cache"] is True
    # validated as a pipeline, one error says what it is and where it goes (not twelve unknown keys)
    [(_, message, hint)] = problems((README / "resilient-client.yaml").read_text())
    assert "Redis client's settings" in message and "under 'redis:' of the 'agent' or 'control' section" in hint


COMPLETE_TREE = """\
version: "1.0"
name: "analytics-pipeline"
type: actor

pipeline:
  name: "RootSupervisor"
  supervision:
    strategy: one_for_one
    max_restarts: 3

  children:
    - name: "SourceSupervisor"
      type: supervisor
      children:
        - name: "KafkaSource"
          type: source
          config:
            source_type: kafka
            brokers: ["kafka:9092"]
            topics: ["logs"]
    - name: "Parse"
      type: transform
      config:
        transform_type: remap
        source: '. = parse_json!(.message)'
    - name: "SinkSupervisor"
      type: supervisor
      supervision: {strategy: one_for_all, max_restarts: 10}
      children:
        - name: "Search"
          type: sink
          config: {sink_type: elasticsearch, endpoints: ["http://es:9200"]}
        - name: "Console"
          type: sink
          config: {sink_type: stdout}
"""

TODAYS_TREE = """\
version: 1
name: analytics-pipeline
type: actor
supervision: {strategy: one_for_one, max_restarts: 3}
children:
  - id: SourceSupervisor
    type: supervisor
    children:
      - id: KafkaSource
        type: source
        component: {type: kafka, brokers: ["kafka:9092"], topics: ["logs"]}
  - id: Parse
    type: stage
    inputs: [KafkaSource]
    component: {type: remap, source: '. = parse_json!(.message)'}
  - id: SinkSupervisor
    type: supervisor
    supervision: {strategy: one_for_all, max_restarts: 10}
    children:
      - id: Search
        type: sink
        inputs: [Parse]
        component: {type: elasticsearch, endpoints: ["http://es:9200"]}
      - id: Console
        type: sink
        inputs: [Parse]
        component: {type: stdout}
"""


def test_an_actor_tree_in_the_original_shape_is_the_same_pipeline_as_in_todays():
    assert shape_of(load_pipeline_text(COMPLETE_TREE)) == shape_of(load_pipeline_text(TODAYS_TREE))


def test_a_router_chain_in_the_original_shape_is_the_same_pipeline_as_in_todays():
    chain = (README / "router.yaml").read_text()
    chain = chain.replace("stages:\n", "stages:\n  - id: in\n    type: kafka\n"
                                       "    config: {brokers: [\"kafka:9092\"], topics: [orders]}\n\n", 1)
    chain = chain.replace("type: aggregate\n    config: {...}",
                          "type: aggregate\n    config: {window: {type: tumbling, size: 60}, aggregations: "
                          "{orders: count}}\n\n  - id: totals\n    type: stdout")
    spec = load_pipeline_text(chain)
    today = load_pipeline_text("""
sources:
  in: {type: kafka, brokers: ["kafka:9092"], topics: [orders]}
transforms:
  router-1: {type: router, inputs: [in], mode: fan_out, routes: [es-path, agg-path]}
  stage-agg: {type: aggregate, inputs: [router-1.agg-path], window: {type: tumbling, size: 60},
              aggregations: {orders: count}}
sinks:
  stage-es: {type: elasticsearch, inputs: [router-1.es-path]}
  totals: {type: stdout, inputs: [stage-agg]}
""", default_name="pipeline")
    assert shape_of(spec) == shape_of(today)
    assert spec.warnings == []


def test_errors_in_the_original_shapes_name_the_place_as_written():
    text = COMPLETE_TREE.replace("transform_type: remap", "transform_type: remapp").replace(
        'brokers: ["kafka:9092"]', 'brokers: ["kafka:9092"]\n            sesion_timeout_ms: 6000')
    found = problems(text)
    assert [(p, m) for p, m, _ in found] == [
        ("pipeline.children[0].children[0].config.sesion_timeout_ms", "unknown key 'sesion_timeout_ms'"),
        ("pipeline.children[1].config.transform_type", found[1][1]),
    ]
    assert found[0][2] == "did you mean 'session_timeout_ms'?"
    assert "remapp" in found[1][1]
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(text, file="p.yaml")
    assert info.value.errors[0].line == text.splitlines().index("            sesion_timeout_ms: 6000") + 1


def test_outputs_wire_the_original_tree_explicitly():
    outputs = COMPLETE_TREE.replace("        source: '. = parse_json!(.message)'",
                                    "        source: '. = parse_json!(.message)'\n      outputs: [TARGET]")
    to_group = load_pipeline_text(outputs.replace("TARGET", "SinkSupervisor"))  # its components, in a row of sinks
    assert shape_of(to_group) == shape_of(load_pipeline_text(TODAYS_TREE))
    [(path, message, hint)] = problems(outputs.replace("TARGET", "Console"))
    assert path == "pipeline.children[2].children[0]"
    assert message == "sink 'Search' takes no records: it follows 'Parse', which sends its records elsewhere"
    assert hint == "add 'Search' to the 'outputs' of 'Parse'"
    path, message, hint = problems(outputs.replace("TARGET", "Consol"))[0]
    assert (path, message) == ("pipeline.children[1].outputs[0]", "'Consol' is not a component or supervisor")
    assert hint is not None and "Console" in hint


def test_all_problems_at_once_header_and_components():
    text = (README / "flat.yaml").read_text().replace('version: "1.0"', "version: 3").replace(
        "topics:", "topicz:")
    found = problems(text)
    assert sorted((p, m) for p, m, _ in found) == [
        ("sources.kafka_input", "missing required key 'topics'"),
        ("sources.kafka_input.topicz", "unknown key 'topicz'"),
        ("version", 'only version 1 exists (written 1, "1", 1.0 or "1.0") (got 3)')]


def test_config_normalize_prints_the_canonical_shape(tmp_path: Path):
    original = tmp_path / "analytics.yaml"
    original.write_text(COMPLETE_TREE)
    proc = conduix("config", "normalize", str(original))
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout) == yaml.safe_load(TODAYS_TREE)
    migrated = tmp_path / "migrated.yaml"
    migrated.write_text(proc.stdout)
    assert shape_of(load_pipeline(migrated)) == shape_of(load_pipeline(original))


def test_config_normalize_of_a_snippet_prints_it_and_says_what_is_missing():
    proc = conduix("config", "normalize", str(README / "supervision.yaml"))
    assert proc.returncode == 2
    assert yaml.safe_load(proc.stdout)["children"][0]["children"][0]["component"]["type"] == "kafka"
    assert "the pipeline has no sink" in proc.stderr


def test_config_normalize_keeps_todays_shapes_and_placeholders(tmp_path: Path):
    file = tmp_path / "p.yaml"
    file.write_text("version: '1.0'\nsources:\n  g: {type: generate, count: 1}\n"
                    "sinks:\n  o: {type: file, inputs: [g], path: '${OUT:-/tmp}/x.jsonl'}\n")
    proc = conduix("config", "normalize", str(file))
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout) == {"version": 1, "sources": {"g": {"type": "generate", "count": 1}},
                                           "sinks": {"o": {"type": "file", "inputs": ["g"],
                                                           "path": "${OUT:-/tmp}/x.jsonl"}}}


CHAIN = """\
stages:
  - id: in
    type: generate
    config: {count: 3}
  - id: tidy
    type: remap
    config: {source: '.tidy = true'}
  - id: archive
    type: {middle}
    config: {path: out.jsonl}
  - id: shout
    type: remap
    config: {source: '.loud = true'}
  - id: last
    type: {last}
    config: {path: last.jsonl}
"""


def test_a_type_that_writes_and_passes_on_is_a_stage_mid_chain_and_a_sink_at_its_end():
    """As the README's Elasticsearch and Kafka stages: a type registered as a stage and a sink."""
    from conduix.builtins.remap_stages import RemapStage
    from conduix.config import normalize_text
    from conduix.plugins import get_plugin_host

    registry = get_plugin_host().registry.copy()
    registry.add_stage("writer", RemapStage)
    registry.add_sink("writer", "conduix.builtins.files:FileSink")
    data, errors = normalize_text(CHAIN.replace("{middle}", "writer").replace("{last}", "writer"), registry=registry)
    assert errors == []
    assert {section: {cid: (c["type"], c.get("inputs")) for cid, c in entries.items()}
            for section, entries in data.items()} == {
        "sources": {"in": ("generate", None)},
        "transforms": {"tidy": ("remap", ["in"]), "archive": ("writer", ["tidy"]), "shout": ("remap", ["archive"])},
        "sinks": {"last": ("writer", ["shout"])},
    }


def test_a_sink_in_the_middle_of_a_chain_is_an_error_that_says_why():
    [(path, message, hint)] = problems(CHAIN.replace("{middle}", "file").replace("{last}", "file"))
    assert path == "stages[2]"
    assert message == ("file 'archive' writes records but passes none on, so 'shout' after it would not get "
                       "what it wrote")
    assert hint == "put 'archive' last in its branch, or wire 'shout' with 'next'"


@pytest.mark.parametrize("name", ["flat", "hierarchical", "supervision", "router"])
def test_editors_accept_the_original_shapes(name):
    """`conduix schema` (for the YAML language server) has the original shapes' top-level keys."""
    import jsonschema

    from conduix.config.schema import pipeline_json_schema

    jsonschema.validate(yaml.safe_load((README / f"{name}.yaml").read_text()), pipeline_json_schema())


def test_a_name_used_twice_is_reported_in_the_words_of_the_shape():
    text = COMPLETE_TREE.replace('name: "Console"', 'name: "Search"')
    [(path, message, hint)] = problems(text)
    assert (path, message) == ("pipeline.children[2].children[1].config", "component id 'Search' is used twice")
    assert hint == "names must be unique across the children of every supervisor"


@pytest.mark.parametrize("text", [COMPLETE_TREE, (README / "flat.yaml").read_text()], ids=["tree", "flat"])
def test_check_mode_reads_the_original_shapes_as_well(text):
    """The control plane validates in check mode (nothing resolved, built or imported): the same model."""
    assert shape_of(load_pipeline_text(text, resolve=False)) == shape_of(load_pipeline_text(text))


def test_validate_says_when_a_file_is_in_an_original_shape(tmp_path: Path):
    file = tmp_path / "tree.yaml"
    file.write_text(COMPLETE_TREE)
    proc = conduix("validate", str(file))
    assert proc.returncode == 0, proc.stderr
    said = f"written as the original README's actor tree ('pipeline:'); `conduix config normalize {file}`"
    assert said in proc.stdout


def test_in_an_actor_tree_the_child_type_says_stage_or_sink():
    text = COMPLETE_TREE.replace("      type: transform\n      config:\n        transform_type: remap\n"
                                 "        source: '. = parse_json!(.message)'",
                                 "      type: stage\n      config: {stage_type: elasticsearch, index: parsed}")
    spec = load_pipeline_text(text)
    assert (spec.components["Parse"].kind, spec.components["Parse"].type_name) == ("stage", "elasticsearch")
    assert (spec.components["Search"].kind, [str(r) for r in spec.components["Search"].inputs]) == (
        "sink", ["Parse"])
