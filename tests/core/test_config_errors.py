"""Every config mistake names the file, the line, the YAML path and the fix."""

from __future__ import annotations

import textwrap

import pytest

from conduix.config import load_pipeline_text
from conduix.errors import ConfigError
from conduix.testing import test_registry


def load(text: str, **kwargs):
    return load_pipeline_text(textwrap.dedent(text), file="p.yaml", registry=test_registry(), **kwargs)


def error_of(text: str, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(text, **kwargs)
    return info.value


def test_unknown_type_names_location_and_closest_names():
    err = error_of("""
        sources:
          gen:
            type: generat
        sinks:
          out: {type: blackhole, inputs: [gen]}
    """)
    assert str(err).startswith("p.yaml:4:")
    assert "sources.gen.type" in str(err)
    assert "unknown source type 'generat'" in str(err)
    assert "did you mean 'generate'" in str(err)


def test_type_in_the_wrong_section_says_where_it_belongs():
    err = error_of("""
        sources:
          gen: {type: blackhole}
        sinks:
          out: {type: stdout, inputs: [gen]}
    """)
    assert "'blackhole' is a sink" in str(err)


def test_unknown_key_suggests_the_right_one():
    err = error_of("""
        sources:
          gen:
            type: generate
            cuont: 5
        sinks:
          out: {type: blackhole, inputs: [gen]}
    """)
    assert "p.yaml:5:5" in str(err)
    assert "sources.gen.cuont" in str(err)
    assert "unknown key 'cuont'" in str(err)
    assert "did you mean 'count'" in str(err)


def test_wrong_value_type_names_expected_and_got():
    err = error_of("""
        sources:
          gen:
            type: generate
            count: lots
        sinks:
          out: {type: blackhole, inputs: [gen]}
    """)
    assert "p.yaml:5:" in str(err)
    assert "sources.gen.count" in str(err)
    assert "expected an integer, got 'lots'" in str(err)


def test_missing_required_key():
    err = error_of("""
        sources:
          f: {type: file}
        sinks:
          out: {type: blackhole, inputs: [f]}
    """)
    assert "missing required key 'path'" in str(err)
    assert "sources.f" in str(err)


def test_dangling_input_suggests_a_known_component():
    err = error_of("""
        sources:
          orders: {type: generate, count: 1}
        sinks:
          out:
            type: blackhole
            inputs: [ordrs]
    """)
    assert "p.yaml:7:" in str(err)
    assert "sinks.out.inputs[0]" in str(err)
    assert "input 'ordrs' does not exist" in str(err)
    assert "did you mean 'orders'" in str(err)


def test_missing_inputs():
    err = error_of("""
        sources:
          gen: {type: generate, count: 1}
        sinks:
          out: {type: blackhole}
    """)
    assert "sink 'out' has no inputs" in str(err)
    assert "p.yaml:5:" in str(err)


def test_unknown_named_output():
    err = error_of("""
        sources:
          gen: {type: generate, count: 1}
        transforms:
          r: {type: router, inputs: [gen], routes: [a, b]}
        sinks:
          out: {type: blackhole, inputs: [r.c]}
    """)
    assert "stage 'r' has no output 'c'" in str(err)
    assert "r.a, r.b" in str(err)


def test_cycle_is_reported_with_its_path():
    err = error_of("""
        sources:
          gen: {type: generate, count: 1}
        transforms:
          a: {type: router, inputs: [gen, b.x], routes: [x]}
          b: {type: router, inputs: [a.x], routes: [x]}
        sinks:
          out: {type: blackhole, inputs: [b.x]}
    """)
    assert "cycle" in str(err)
    assert "a -> b -> a" in str(err) or "b -> a -> b" in str(err)


def test_sink_as_input_and_source_with_inputs():
    err = error_of("""
        sources:
          gen: {type: generate, count: 1, inputs: [x]}
        sinks:
          out: {type: blackhole, inputs: [gen]}
          out2: {type: blackhole, inputs: [out]}
    """)
    messages = [str(e) for e in err.errors]
    assert any("a source takes no 'inputs'" in m for m in messages)
    assert any("input 'out' is a sink" in m for m in messages)


def test_all_problems_are_reported_at_once():
    err = error_of("""
        sources:
          a: {type: generate, count: x}
          b: {type: nope}
        sinks:
          out: {type: blackhole, inputs: [a, b]}
    """)
    assert len(err.errors) == 2


def test_env_interpolation_with_default_and_missing():
    spec = load("""
        sources:
          gen: {type: generate, count: "${N:-3}"}
        sinks:
          out: {type: file, inputs: [gen], path: "${OUT}/x.jsonl"}
    """, env={"OUT": "/tmp/o"})
    assert spec.components["gen"].config.count == 3
    assert spec.components["out"].config.path == "/tmp/o/x.jsonl"
    err = error_of("""
        sources:
          gen: {type: generate, count: 1}
        sinks:
          out: {type: file, inputs: [gen], path: "${MISSING_DIR}/x"}
    """, env={})
    assert "environment variable MISSING_DIR is not set" in str(err)
    assert "sinks.out.path" in str(err)
    assert "${MISSING_DIR:-value}" in str(err)


def test_yaml_syntax_error_has_line_and_column():
    err = error_of("sources:\n  gen: {type: generate\nsinks: []\n")
    assert err.line is not None and "invalid YAML" in str(err)


def test_duplicate_keys_are_errors():
    err = error_of("""
        sources:
          gen: {type: generate, count: 1}
          gen: {type: generate, count: 2}
        sinks:
          out: {type: blackhole, inputs: [gen]}
    """)
    assert "duplicate key 'gen'" in str(err)


def test_no_sink_and_no_source():
    err = error_of("""
        sources:
          gen: {type: generate, count: 1}
    """)
    assert "no sink" in str(err)


def test_python_function_that_does_not_import():
    err = error_of("""
        sources:
          gen: {type: generate, count: 1}
        transforms:
          t: {type: python, inputs: [gen], function: "no_such_module_xyz:f"}
        sinks:
          out: {type: blackhole, inputs: [t]}
    """)
    assert "cannot import module 'no_such_module_xyz'" in str(err)
    assert "transforms.t" in str(err)


def test_hierarchical_format_is_parsed_and_validated():
    spec = load("""
        version: 1
        name: tree
        type: actor
        supervision: {strategy: one_for_all, max_restarts: 3, within_seconds: 30}
        children:
          - id: readers
            type: supervisor
            supervision: {strategy: one_for_one}
            children:
              - id: gen
                type: source
                component: {type: generate, count: 5}
          - id: t
            type: stage
            inputs: [gen]
            component: {type: router, routes: [a]}
          - id: out
            type: sink
            inputs: [t.a]
            component: {type: blackhole}
    """)
    assert spec.format == "actor"
    assert spec.supervision is not None
    assert spec.supervision.settings.strategy == "one_for_all"
    assert spec.supervision.component_ids() == ["gen", "t", "out"]
    assert [c.id for c in spec.topological()] == ["gen", "t", "out"]


def test_a_supervisor_takes_its_parents_restart_budget_and_backoff_unless_it_sets_them():
    spec = load("""
        type: actor
        supervision: {strategy: one_for_all, max_restarts: 3, within_seconds: 300, backoff: {initial: 2},
                      resume: {max_attempts: 0}}
        children:
          - id: readers
            type: supervisor
            supervision: {max_restarts: 10}
            children:
              - id: inner
                type: supervisor
                supervision: {strategy: rest_for_one, within_seconds: 30}
                children:
                  - {id: gen, type: source, component: {type: generate, count: 5}}
          - {id: out, type: sink, inputs: [gen], component: {type: blackhole}}
    """)
    readers = spec.supervision.children[0]
    inner = readers.children[0]
    assert (readers.settings.strategy, readers.settings.max_restarts, readers.settings.within_seconds,
            readers.settings.backoff.initial) == ("one_for_one", 10, 300, 2)
    assert (inner.settings.strategy, inner.settings.max_restarts, inner.settings.within_seconds,
            inner.settings.backoff.initial) == ("rest_for_one", 10, 30, 2)
    assert readers.settings.resume.max_attempts == 10  # the root's alone


def test_a_supervisors_supervision_that_is_not_a_mapping_is_an_error_at_its_place():
    err = error_of("""
        type: actor
        children:
          - id: readers
            type: supervisor
            supervision: fast
            children:
              - {id: gen, type: source, component: {type: generate, count: 5}}
          - {id: out, type: sink, inputs: [gen], component: {type: blackhole}}
    """)
    assert "children[0].supervision" in str(err) and "expected a mapping, got 'fast'" in str(err)


def test_hierarchical_errors_point_into_the_tree():
    err = error_of("""
        type: actor
        supervision: {strategy: one_for_some}
        children:
          - id: gen
            type: source
            component: {type: generate, count: 5, colour: red}
          - id: out
            type: sink
            inputs: [gen]
            component: {type: blackhole}
    """)
    assert "supervision.strategy" in str(err)
    assert "expected one of one_for_one, one_for_all, rest_for_one, got 'one_for_some'" in str(err)
    assert "did you mean 'one_for_one'" in str(err)
    err = error_of("""
        type: actor
        children:
          - id: gen
            type: source
            component: {type: generate, count: 5, colour: red}
          - id: out
            type: sink
            inputs: [gen]
            component: {type: blackhole}
    """)
    assert "children[0].component.colour" in str(err) and "p.yaml:6:" in str(err)
