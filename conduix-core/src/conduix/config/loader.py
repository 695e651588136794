"""Load and validate pipeline files: every mistake becomes a ConfigError at its YAML location."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from conduix.components import ComponentConfig, Context
from conduix.config.checkmode import validate_model
from conduix.config.model import (
    INHERITED_SUPERVISION,
    BufferSettings,
    ChildSettings,
    ComponentPolicy,
    PipelineHeader,
    SupervisionSettings,
    is_version_one,
    validation_errors,
)
from conduix.config.shapes import Shape, to_canonical
from conduix.config.spec import ComponentSpec, InputRef, PipelineSpec, SupervisionNode
from conduix.config.yamlsource import Located, Path, check_size, format_path, interpolate, load_yaml
from conduix.errors import ConduixError, ConfigError
from conduix.registry import ComponentRegistry, Kind

__all__ = ["COMMON_KEYS", "load_pipeline", "load_pipeline_text", "normalize_text", "pipeline_from_dict"]

SECTIONS: dict[str, Kind] = {"sources": "source", "transforms": "stage", "sinks": "sink"}
COMMON_KEYS = ("type", "inputs", "on_error", "retry", "buffer")
DEAD_LETTER = "dead_letter"
_ID = re.compile(r"^[A-Za-z0-9_\-]+$")
#: how to add a missing source or sink, in the words of the shape the file is written in
_MISSING_HINTS: dict[Shape, dict[str, str]] = {
    "flat": {"source": "add a 'sources:' section with at least one source",
             "sink": "add a 'sinks:' section, e.g. type: stdout"},
    "actor": {"source": "add a child with 'type: source' and 'component: {type: ...}'",
              "sink": "add a child with 'type: sink', 'inputs:' and 'component: {type: ...}', e.g. type: stdout"},
    "tree": {"source": "add a child with 'type: source' and 'config: {source_type: kafka, ...}'",
             "sink": "add a child with 'type: sink' after the last stage, e.g. config: {sink_type: elasticsearch, "
                     "endpoints: [...]}"},
    "chain": {"source": "start 'stages:' with a source, e.g. {id: in, type: kafka, config: {brokers: [...], "
                        "topics: [...]}}",
              "sink": "end 'stages:' (or each branch) with a sink, e.g. type: elasticsearch"},
}


def load_pipeline(path: str | FsPath, *, registry: ComponentRegistry | None = None,
                  env: Mapping[str, str] | None = None, params: Mapping[str, Any] | None = None) -> PipelineSpec:
    """Read, interpolate and validate a pipeline file."""
    file = str(path)
    try:
        check_size(FsPath(path).stat().st_size, file)
        text = FsPath(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"pipeline file {file} does not exist", hint="check the path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read pipeline file {file}: {exc.strerror}") from None
    return load_pipeline_text(text, file=file, registry=registry, env=env,
                              default_name=FsPath(path).stem, params=params)


def load_pipeline_text(text: str, *, file: str | None = None, registry: ComponentRegistry | None = None,
                       env: Mapping[str, str] | None = None, default_name: str = "pipeline",
                       params: Mapping[str, Any] | None = None, resolve: bool = True,
                       build: bool = True) -> PipelineSpec:
    """Validate pipeline YAML; ``params`` fills ``${params.NAME}`` (None: leave them for run time).

    ``resolve=False`` is check mode (:mod:`conduix.config.checkmode`): no ``${VAR}`` resolved, no file
    read, nothing a user named imported, no component built. The control plane validates this way.
    ``build=False`` resolves placeholders but reads, imports and builds nothing (agents' allow-list checks).
    """
    doc = load_yaml(text, file)
    spec = _build(doc, registry, env, default_name, params, resolve=resolve, build=build and resolve)
    spec.text = text
    return spec


def normalize_text(text: str, *, file: str | None = None,
                   registry: ComponentRegistry | None = None) -> tuple[dict[str, Any], list[ConfigError]]:
    """Pipeline YAML in today's canonical shape (flat, or ``type: actor``), nothing resolved nor validated,
    with the errors found while reading an original shape into it (``conduix config normalize``)."""
    doc = load_yaml(text, file)
    if not isinstance(doc.data, dict):
        raise doc.error("a pipeline file must be a mapping of keys (version, name, sources, ...)", ())
    _, errors = to_canonical(doc, registry or _registry())
    if is_version_one(doc.data.get("version")):
        doc.data["version"] = 1
    return doc.data, errors


def _registry() -> ComponentRegistry:
    from conduix.plugins import get_plugin_host

    return get_plugin_host().registry


def pipeline_from_dict(data: dict[str, Any], *, registry: ComponentRegistry | None = None,
                       name: str = "pipeline") -> PipelineSpec:
    """Validate a config given as Python data (the same shape as the YAML)."""
    return _build(Located(data), registry, {}, name)


#: the original README's ResilientClient settings (conduix-control's ``ResilientSettings``): a file of only these
#: is the Redis client's block, not a pipeline
REDIS_CLIENT_SETTINGS = frozenset({
    "max_retries", "initial_backoff", "max_backoff", "backoff_multiplier", "failure_threshold", "success_threshold",
    "open_timeout", "enable_local_cache", "local_cache_ttl", "local_cache_max_size", "command_retries",
    "socket_timeout",
})


def _build(doc: Located, registry: ComponentRegistry | None, env: Mapping[str, str] | None,
           default_name: str, params: Mapping[str, Any] | None = None, *, resolve: bool = True,
           build: bool = True) -> PipelineSpec:
    registry = registry or _registry()
    if not isinstance(doc.data, dict):
        raise doc.error("a pipeline file must be a mapping of keys (version, name, sources, ...)", ())
    if doc.data and set(doc.data) <= REDIS_CLIENT_SETTINGS:
        raise doc.error("these are the Redis client's settings (the original README's ResilientClient), not a "
                        "pipeline", (), hint="put them in the settings file under 'redis:' of the 'agent' or "
                        "'control' section; see docs/control-plane.md#resilientclient-redis")
    shape, errors = to_canonical(doc, registry)
    interpolate(doc, env, params, resolve=resolve)
    header, header_errors = validate_model(PipelineHeader, doc.data, doc, (), resolve=resolve)
    errors += header_errors
    if header is None:  # go on without the top-level keys in error, so every problem is reported at once
        fine = {k: v for k, v in doc.data.items()
                if validate_model(PipelineHeader, {k: v}, doc, (), resolve=resolve)[0] is not None}
        header, _ = validate_model(PipelineHeader, fine, doc, (), resolve=resolve)
        if header is None:
            raise ConfigError.collect(errors)
    builder = _Builder(doc, registry, header, resolve=resolve, build=build, shape=shape)
    builder.errors += errors
    if header.type == "actor":
        builder.read_tree()
    else:
        if header.children is not None:
            builder.errors.append(doc.error("'children' belongs to the hierarchical format", ("children",),
                                            key=True, hint="add 'type: actor' at the top, or remove it"))
        for section, kind in SECTIONS.items():
            entries = doc.data.get(section)
            for cid, raw in (entries or {}).items():
                builder.component(str(cid), kind, raw, (section, cid))
    builder.check_graph()
    if header.delivery == "exactly_once":
        for cid, spec in builder.components.items():
            if spec.buffer is not None and spec.buffer.type == "disk":
                builder.errors.append(doc.error(
                    "a disk buffer acknowledges records before the sink wrote them, which breaks exactly-once",
                    (*builder._paths[cid], "buffer"), hint="remove 'buffer: {type: disk}' or use at_least_once"))
    if header.data_output is not None and header.data_output not in builder.components and not builder.errors:
        builder.errors.append(doc.error(f"data_output {header.data_output!r} is not a component", ("data_output",),
                                        hint=f"name one of: {', '.join(builder.components)}"))
    if builder.errors:
        raise ConfigError.collect(builder.errors)
    return PipelineSpec(
        name=header.name or default_name, components=builder.components, settings=header.settings,
        description=header.description, delivery=header.delivery, format=header.type, supervision=builder.tree,
        file=doc.file, warnings=builder.warnings, raw=doc.data, data_type=header.data_type,
        parent=header.parent, child=header.child or ChildSettings(), data_output=header.data_output, shape=shape,
    )


class _Builder:
    def __init__(self, doc: Located, registry: ComponentRegistry, header: PipelineHeader, *,
                 resolve: bool = True, build: bool = True, shape: Shape = "flat") -> None:
        self.doc = doc
        self.shape = shape
        self.resolve = resolve
        self.build = build
        self.registry = registry
        self.header = header
        self.components: dict[str, ComponentSpec] = {}
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []
        self.tree: SupervisionNode | None = None
        self._raw_inputs: dict[str, tuple[Any, Path]] = {}
        self._paths: dict[str, Path] = {}
        self._kinds: dict[str, Kind] = {}  # every component given, valid or not

    # -- components ------------------------------------------------------------------
    def component(self, cid: str, kind: Kind, raw: Any, path: Path) -> None:
        doc = self.doc
        if not _ID.match(cid):
            self.errors.append(doc.error(f"component id {cid!r} may use only letters, digits, '_' and '-'",
                                         path, key=True, hint="rename it ('.' separates outputs)"))
            return
        if cid in self._paths:
            unique = {"flat": "ids must be unique across sources, transforms and sinks",
                      "actor": "ids must be unique across the children of every supervisor",
                      "tree": "names must be unique across the children of every supervisor",
                      "chain": "ids must be unique across 'stages'"}[self.shape]
            self.errors.append(doc.error(f"component id {cid!r} is used twice", path, key=True, hint=unique))
            return
        self._paths[cid] = path
        self._kinds[cid] = kind
        if not isinstance(raw, dict):
            self.errors.append(doc.error(f"{kind} {cid!r} must be a mapping with a 'type:' key", path))
            return
        type_name = raw.get("type")
        if not isinstance(type_name, str):
            self.errors.append(doc.error(f"{kind} {cid!r} has no 'type'", path,
                                         hint=f"add 'type:' with one of: {', '.join(self.registry.names(kind))}"))
            return
        if kind == "source":
            if "inputs" in raw:
                self.errors.append(doc.error("a source takes no 'inputs'", (*path, "inputs"), key=True,
                                             hint="remove it, or move the component to transforms/sinks"))
        else:
            self._raw_inputs[cid] = (raw.get("inputs"), (*path, "inputs"))
        try:
            entry = self.registry.get(kind, type_name, path=format_path(doc.original((*path, "type"))))
            cls = entry.load()
        except ConfigError as exc:
            line, column = doc.where((*path, "type"))
            exc.line, exc.column, exc.file = line, column, doc.file
            exc.args = (exc.render(),)
            self.errors.append(exc)
            return
        except ConduixError as exc:
            self.errors.append(doc.error(str(exc), (*path, "type")))
            return
        model: type[ComponentConfig] = getattr(cls, "Config", ComponentConfig)
        options = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
        if "buffer" in raw and kind != "sink":
            self.errors.append(doc.error("'buffer' is a sink setting", (*path, "buffer"), key=True,
                                         hint="remove it; sources and stages are paced by backpressure"))
            return
        resolve, build = self.resolve, self.build
        checked = [
            validate_model(ComponentPolicy, {k: raw[k] for k in ("on_error", "retry") if k in raw}, doc, path,
                           resolve=resolve, build=build),
            validate_model(BufferSettings, raw["buffer"], doc, (*path, "buffer"), resolve=resolve, build=build)
            if raw.get("buffer") is not None else (None, []),
            validate_model(model, options, doc, path, also_known=COMMON_KEYS, resolve=resolve, build=build),
        ]
        problems = [e for _, errors in checked for e in errors]
        if problems:
            self.errors.extend(problems)
            return
        (policy, _), (buffer, _), (config, _) = checked
        spec = ComponentSpec(cid, kind, type_name, cls, config, path=format_path(doc.original(path)), policy=policy,
                             buffer=buffer)
        try:
            spec.outputs = self._outputs(spec)
        except ConfigError as exc:
            self.errors.append(doc.error(exc.message, path, hint=exc.hint))
            return
        if policy.on_error == DEAD_LETTER:
            spec.outputs.append(DEAD_LETTER)
        self.components[cid] = spec

    def _outputs(self, spec: ComponentSpec) -> list[str]:
        """A stage's named outputs: from a built instance (which also checks what building checks, such as a
        python stage's import), or without building from the class alone (nothing built, nothing imported)."""
        if spec.kind != "stage":
            return []
        if self.build:
            instance = spec.build(Context(component_id=spec.id, pipeline=self.header.name or "pipeline"))
            return list(instance.outputs())
        outputs = spec.cls.outputs_for(spec.config)
        if outputs is None:  # a plugin stage that knows its outputs only once built: any name is accepted
            spec.outputs_known = False
            return []
        return list(outputs)

    # -- hierarchical format -----------------------------------------------------------
    def read_tree(self) -> None:
        doc, header = self.doc, self.header
        for section in SECTIONS:
            if doc.data.get(section) is not None:
                self.errors.append(doc.error(f"'{section}' belongs to the flat format", (section,), key=True,
                                             hint="with 'type: actor', list components under 'children'"))
        if not header.children:
            self.errors.append(doc.error("a 'type: actor' pipeline needs 'children'", (),
                                         hint="add children of type supervisor, source, stage or sink"))
            return
        self.tree = self._supervisor("root", header.supervision or SupervisionSettings(),
                                     doc.data["children"], ("children",))

    def _supervisor(self, sid: str, settings: SupervisionSettings, children: Any, path: Path) -> SupervisionNode:
        node = SupervisionNode(sid, settings)
        if not isinstance(children, list):
            self.errors.append(self.doc.error("'children' must be a list", path))
            return node
        for i, child in enumerate(children):
            cpath = (*path, i)
            if not isinstance(child, dict):
                self.errors.append(self.doc.error("a child must be a mapping with 'id' and 'type'", cpath))
                continue
            cid, ctype = child.get("id"), child.get("type")
            if not isinstance(cid, str):
                self.errors.append(self.doc.error("a child needs an 'id'", cpath, hint="add 'id: <name>'"))
                continue
            if ctype == "supervisor":
                extra = set(child) - {"id", "type", "supervision", "children"}
                for key in sorted(extra):
                    self.errors.append(self.doc.error(f"unknown key {key!r} for a supervisor", (*cpath, key),
                                                      key=True, hint="use id, type, supervision, children"))
                own = child.get("supervision") or {}
                if isinstance(own, dict):
                    own = {**settings.model_dump(include=set(INHERITED_SUPERVISION)), **own}
                try:
                    sub = SupervisionSettings.model_validate(own)
                except ValidationError as exc:
                    self.errors.extend(validation_errors(exc, self.doc, (*cpath, "supervision"),
                                                         SupervisionSettings))
                    sub = SupervisionSettings()
                node.children.append(self._supervisor(cid, sub, child.get("children") or [],
                                                      (*cpath, "children")))
            elif ctype in ("source", "stage", "sink"):
                extra = set(child) - {"id", "type", "component", "inputs"}
                for key in sorted(extra):
                    self.errors.append(self.doc.error(f"unknown key {key!r} for a {ctype}", (*cpath, key),
                                                      key=True, hint="use id, type, component, inputs"))
                component = child.get("component")
                if not isinstance(component, dict):
                    self.errors.append(self.doc.error(f"{ctype} {cid!r} needs a 'component:' mapping",
                                                      cpath, hint="add component: {type: ..., ...}"))
                    continue
                raw = dict(component)
                if "inputs" in child:
                    raw["inputs"] = child["inputs"]
                    self.doc.values[(*cpath, "component", "inputs")] = self.doc.where((*cpath, "inputs"))
                    self.doc.keys[(*cpath, "component", "inputs")] = self.doc.where((*cpath, "inputs"), key=True)
                self.component(cid, ctype, raw, (*cpath, "component"))
                node.children.append(cid)
            else:
                self.errors.append(self.doc.error(f"unknown child type {ctype!r}", (*cpath, "type"),
                                                  hint="use supervisor, source, stage or sink"))
        return node

    # -- graph --------------------------------------------------------------------------
    def check_graph(self) -> None:
        doc = self.doc
        for kind in ("source", "sink"):  # components in error count: their errors say what to fix there
            if kind not in self._kinds.values():
                where = ("pipeline",) if self.shape == "tree" else ("stages",) if self.shape == "chain" else ()
                self.errors.append(doc.error(f"the pipeline has no {kind}", where,
                                             hint=_MISSING_HINTS[self.shape][kind]))
        for cid, (raw, path) in self._raw_inputs.items():
            spec = self.components.get(cid)
            if raw is None or raw == []:
                if self.shape in ("tree", "chain"):
                    continue  # the original shapes wire by order; their reader reported what takes nothing
                self.errors.append(doc.error(f"{'sink' if spec is None or spec.kind == 'sink' else 'transform'}"
                                             f" {cid!r} has no inputs", path[:-1],
                                             hint="add 'inputs: [<source or transform id>]'"))
                continue
            items = [raw] if isinstance(raw, str) else raw
            if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                self.errors.append(doc.error("'inputs' must be a list of component ids", path))
                continue
            refs = []
            for i, item in enumerate(items):
                ref = self._resolve(item, (*path, i) if not isinstance(raw, str) else path)
                if ref is not None:
                    refs.append(ref)
            if spec is not None:
                spec.inputs = refs
        if self.errors:
            return
        self._check_cycles()
        if not self.errors:
            self._check_reachability()

    def _resolve(self, item: str, path: Path) -> InputRef | None:
        name, output = item, None
        if item not in self.components and "." in item:
            name, _, output = item.partition(".")
        target = self.components.get(name)
        if target is None:
            if name in self._paths:
                return None  # the component itself had an error, already reported
            known = [c for c, s in self.components.items() if s.kind != "sink"]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"known inputs: {', '.join(known) or 'none'}"
            self.errors.append(self.doc.error(f"input {item!r} does not exist", path, hint=hint))
            return None
        if target.kind == "sink" and output != DEAD_LETTER:
            hint = (f"take its dead letters as '{name}.{DEAD_LETTER}'" if DEAD_LETTER in target.outputs
                    else "take the input of that sink instead")
            self.errors.append(self.doc.error(f"input {item!r} is a sink; sinks have no outputs", path, hint=hint))
            return None
        if output is not None and output not in target.outputs and target.outputs_known:
            outputs = ", ".join(f"{name}.{o}" for o in target.outputs) or "none"
            hint = (f"add 'on_error: dead_letter' to {name!r}" if output == DEAD_LETTER
                    else f"named outputs: {outputs}")
            self.errors.append(self.doc.error(f"{target.kind} {name!r} has no output {output!r}", path,
                                              hint=hint))
            return None
        return InputRef(name, output)

    def _check_cycles(self) -> None:
        state: dict[str, int] = {}
        for start in self.components:
            stack: list[tuple[str, int]] = [(start, 0)]
            trail: list[str] = []
            while stack:
                node, idx = stack.pop()
                if idx == 0:
                    if state.get(node) == 2:
                        continue
                    if state.get(node) == 1:
                        cycle = [*trail[trail.index(node):], node]
                        self.errors.append(self.doc.error(
                            "the inputs form a cycle: " + " -> ".join(reversed(cycle)),
                            (*self._paths[node], "inputs"),
                            hint="a component cannot (indirectly) consume its own output"))
                        return
                    state[node] = 1
                    trail.append(node)
                refs = self.components[node].inputs
                if idx < len(refs):
                    stack.append((node, idx + 1))
                    stack.append((refs[idx].component, 0))
                else:
                    state[node] = 2
                    trail.pop()

    def _check_reachability(self) -> None:
        used = {ref.component for c in self.components.values() for ref in c.inputs}
        for spec in self.components.values():
            if spec.kind != "sink" and spec.id not in used:
                self.warnings.append(f"{spec.path}: the output of {spec.kind} {spec.id!r} goes nowhere "
                                     "(its records are dropped)")
            elif spec.kind == "sink" and DEAD_LETTER in spec.outputs and spec.id not in used:
                self.warnings.append(f"{spec.path}: nothing consumes '{spec.id}.{DEAD_LETTER}' "
                                     "(its dead letters are dropped)")

