"""The original Conduix README's pipeline shapes, read into today's canonical shape.

Two shapes of the original are not today's:

- the **actor tree** (``pipeline:`` with ``name``, ``supervision`` and ``children``; a child is
  ``{name, type: supervisor | source | transform | stage | router | sink, config: {source_type: kafka,
  ...}, outputs: [...]}``) becomes ``type: actor`` with ``supervision`` and ``children`` of
  ``{id, type, component, inputs}``;
- the **stage chain** (``stages:``, a list of ``{id, type, config}`` with a ``router``'s
  ``routes: [{name, next}]``) becomes the flat ``sources`` / ``transforms`` / ``sinks``.

Both are Unix pipes: a component without explicit wiring takes the records of the one before it in the
file (several sources in a row feed the next component together; a sink passes nothing on, so the
component after it takes what the sink took). ``outputs:`` / ``next:`` wire explicitly, and a router's
route ``next`` consumes that route. Every canonical path is aliased to where the user wrote it
(:attr:`Located.aliases`), so errors name the file as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from conduix.config.yamlsource import Located, Path
from conduix.errors import ConfigError
from conduix.registry import ComponentRegistry, Kind

__all__ = ["Shape", "detect", "to_canonical"]

Shape = Literal["flat", "actor", "tree", "chain"]
"""flat and actor: today's shapes; tree: the original ``pipeline:`` actor tree; chain: the original ``stages:``."""

#: the original's child types -> today's kinds
_KINDS: dict[str, Kind] = {"source": "source", "transform": "stage", "stage": "stage", "router": "stage",
                           "sink": "sink"}
_TYPE_KEYS = {"source": "source_type", "transform": "transform_type", "stage": "stage_type", "sink": "sink_type"}
_COMMON = ("on_error", "retry", "buffer")
_WIRING = ("outputs", "next")
ELLIPSIS = "..."  #: ``config: {...}`` in the README: settings left out


def detect(data: Any) -> Shape:
    """Which shape a parsed pipeline file is written in."""
    if isinstance(data, dict):
        if isinstance(data.get("pipeline"), dict):
            return "tree"
        if isinstance(data.get("stages"), list):
            return "chain"
        if data.get("type") == "actor":
            return "actor"
    return "flat"


@dataclass
class _Node:
    """One component of the original shapes, in file order."""

    id: str
    kind: Kind | None  # None: decided from the type (stage chain)
    raw: dict[str, Any]  # the canonical component: {type, ...options}
    path: Path  # where the entry is written
    config_path: Path  # where its options are written
    type_path: Path = ()  # where its type is written
    targets: list[tuple[str, str | None, Path]] = field(default_factory=list)  # (target, route, where)
    inputs: list[str] = field(default_factory=list)
    router: bool = False
    writes: bool = False  # a stage whose type is a sink too (chain: decided by its place)


class _Reader:
    def __init__(self, doc: Located, registry: ComponentRegistry, shape: Shape) -> None:
        self.doc = doc
        self.registry = registry
        self.shape = shape
        self.errors: list[ConfigError] = []
        self.nodes: list[_Node] = []
        self.groups: dict[str, list[_Node]] = {}  # supervisor name -> its components, in order
        self.written: dict[int, Path] = {}  # id() of a canonical supervisor entry -> where it is written

    def error(self, message: str, path: Path, *, key: bool = False, hint: str | None = None) -> None:
        self.errors.append(self.doc.error(message, path, key=key, hint=hint))

    # -- one component ------------------------------------------------------------------------
    def component(self, entry: dict[str, Any], path: Path, kind: Kind | None, type_name: Any,
                  type_path: Path) -> _Node | None:
        name = entry.get("name", entry.get("id"))
        if not isinstance(name, str) or not name:
            self.error("this entry has no name", path, hint="add 'name: <Name>'" if self.shape == "tree"
                       else "add 'id: <name>'")
            return None
        config = entry.get("config")
        config_path = (*path, "config")
        if config is None or config == {ELLIPSIS: None}:
            config = {}
        if not isinstance(config, dict):
            self.error("'config' must be a mapping of the component's settings", config_path)
            return None
        options = {k: v for k, v in config.items() if k not in _TYPE_KEYS.values() and k != "type"}
        options.update({k: entry[k] for k in _COMMON if k in entry})
        if not isinstance(type_name, str):
            return None
        node = _Node(name, kind, {"type": type_name, **options}, path, config_path, type_path)
        for key in _WIRING:
            if key in entry:
                targets = entry[key] if isinstance(entry[key], list) else [entry[key]]
                for i, target in enumerate(targets):
                    where = (*path, key, i) if isinstance(entry[key], list) else (*path, key)
                    if isinstance(target, str):
                        node.targets.append((target, None, where))
                    else:
                        self.error(f"'{key}' names components by their names", where)
        if type_name == "router":
            node.router = True
            node.raw = self.router(node, config)
        self.nodes.append(node)
        return node

    def router(self, node: _Node, config: dict[str, Any]) -> dict[str, Any]:
        """README routers: ``routes: [{name, next, condition}]`` -> ``routes: {name: condition}`` + wiring."""
        routes = config.get("routes")
        if not isinstance(routes, list) or not all(isinstance(r, dict) for r in routes):
            return node.raw  # today's router config (or a mistake its model reports)
        table: dict[str, Any] = {}
        for i, route in enumerate(routes):
            where = (*node.config_path, "routes", i)
            name = route.get("name")
            if not isinstance(name, str):
                self.error("a route needs a 'name'", where, hint="add 'name: <route>'")
                continue
            for key in sorted(set(route) - {"name", "next", "condition"}):
                self.error(f"unknown key {key!r} in a route", (*where, key), key=True,
                           hint="a route has name, next and (modes condition and filter) condition")
            table[name] = route.get("condition")
            targets = route.get("next")
            for target in targets if isinstance(targets, list) else [targets] if targets is not None else []:
                node.targets.append((str(target), name, (*where, "next")))
        raw = {k: v for k, v in node.raw.items() if k != "routes"}
        mode = raw.get("mode")
        raw["routes"] = list(table) if mode == "fan_out" and not any(table.values()) else table
        return raw

    # -- the actor tree -----------------------------------------------------------------------
    def tree(self, children: Any, path: Path, group: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not isinstance(children, list):
            self.error("'children' must be a list", path)
            return out
        for i, child in enumerate(children):
            cpath = (*path, i)
            if not isinstance(child, dict):
                self.error("a child must be a mapping with 'name' and 'type'", cpath)
                continue
            ctype = child.get("type")
            if ctype == "supervisor":
                self.known(child, cpath, ("name", "id", "type", "supervision", "children"), "a supervisor")
                name = child.get("name", child.get("id"))
                if not isinstance(name, str):
                    self.error("this supervisor has no name", cpath, hint="add 'name: <Name>'")
                    continue
                entry: dict[str, Any] = {"id": name, "type": "supervisor"}
                self.written[id(entry)] = cpath
                if "supervision" in child:
                    entry["supervision"] = child["supervision"]
                entry["children"] = self.tree(child.get("children") or [], (*cpath, "children"), [*group, name])
                out.append(entry)
                continue
            kind = _KINDS.get(ctype) if isinstance(ctype, str) else None
            if kind is None:
                self.error(f"unknown child type {ctype!r}", (*cpath, "type"),
                           hint="use supervisor, source, transform, router or sink")
                continue
            self.known(child, cpath, ("name", "id", "type", "config", *_WIRING, *_COMMON), f"a {ctype}")
            config: dict[str, Any] = child["config"] if isinstance(child.get("config"), dict) else {}
            type_key = _TYPE_KEYS.get(str(ctype), "type")
            type_name = "router" if ctype == "router" else config.get(type_key, config.get("type"))
            type_path = (*cpath, "config", type_key if type_key in config else "type")
            if not isinstance(type_name, str) and isinstance(child.get("name"), str):
                names = ", ".join(self.registry.names(kind)) or "none installed"
                self.error(f"{ctype} {child['name']!r} names no component type", (*cpath, "config"),
                           hint=f"add '{type_key}: <type>' under config ({names})")
            node = self.component(child, cpath, kind, type_name, type_path)
            if node is None:
                continue
            for member in group:
                self.groups.setdefault(member, []).append(node)
            out.append({"id": node.id, "type": kind, "component": node.raw})
        return out

    def known(self, entry: dict[str, Any], path: Path, keys: tuple[str, ...], what: str) -> None:
        for key in sorted(set(entry) - set(keys)):
            self.error(f"unknown key {key!r} for {what}", (*path, key), key=True,
                       hint=f"use {', '.join(k for k in keys if k != 'id')}")

    # -- the stage chain ----------------------------------------------------------------------
    def chain(self, stages: list[Any]) -> None:
        for i, entry in enumerate(stages):
            path = ("stages", i)
            if not isinstance(entry, dict):
                self.error("a stage must be a mapping with 'id', 'type' and 'config'", path)
                continue
            self.known(entry, path, ("id", "name", "type", "config", *_WIRING, *_COMMON), "a stage")
            type_name = entry.get("type")
            if not isinstance(type_name, str):
                self.error("this stage has no 'type'", path, hint="add 'type: <type>' (e.g. kafka, remap, "
                                                                   "router, elasticsearch)")
            self.component(entry, path, None, type_name, (*path, "type"))

    def decide_kinds(self) -> None:
        """Stage chain: a source type first is the source (as are the next entries while their types are only
        source types); a stage type is a stage; other types are sinks. A type that is a stage and a sink too
        (``elasticsearch``, ``kafka``: they write and pass the written records on) is a stage while wiring,
        and a sink where nothing takes its records (:meth:`settle`)."""
        stages, sinks, sources = (set(self.registry.names(k)) for k in ("stage", "sink", "source"))
        targeted = {t for n in self.nodes for t, _, _ in n.targets}
        seen_stage = False
        for i, node in enumerate(self.nodes):
            type_name = node.raw["type"]
            # the first entry, or one more source in the leading run when its type can be nothing else
            leading = i == 0 or (not seen_stage and type_name not in stages | sinks)
            if leading and node.id not in targeted and type_name in sources:
                node.kind = "source"
            elif type_name in stages:
                node.kind, node.writes = "stage", type_name in sinks
            elif type_name in sinks:
                node.kind = "sink"
            else:
                node.kind = "stage"  # unknown: the registry's error names the close matches
            seen_stage = seen_stage or node.kind != "source"

    def settle(self) -> None:
        """A writing stage at the end of its branch is that type's sink."""
        taken = {ref.split(".")[0] for n in self.nodes for ref in n.inputs}
        for node in self.nodes:
            if node.writes and node.id not in taken and not node.targets:
                node.kind = "sink"

    # -- wiring -------------------------------------------------------------------------------
    def wire(self) -> None:
        by_id = {n.id: n for n in self.nodes}
        inputs: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for node in self.nodes:
            for target, route, where in node.targets:
                ref = node.id if route is None else f"{node.id}.{route}"
                if target in by_id:
                    inputs[target].append(ref)
                elif target in self.groups:
                    inputs[self.groups[target][0].id].append(ref)
                else:
                    known = ", ".join(list(by_id) + list(self.groups)) or "none"
                    self.error(f"{target!r} is not a component{' or supervisor' if self.groups else ''}", where,
                               hint=f"name one of: {known}")
        # the Unix pipe: what the next component takes when nothing names its inputs
        tail: list[str] = []  # refs of the producers at the end of the chain so far
        last: _Node | None = None  # the component they come from (for messages)
        open_tail = False  # False: the last producer sends its records elsewhere (outputs / next / a router)
        has_source = any(n.kind == "source" for n in self.nodes)
        for i, node in enumerate(self.nodes):
            if node.kind == "source":
                sources_run = open_tail and last is not None and last.kind == "source"
                tail, last, open_tail = [*tail, node.id] if sources_run else [node.id], node, not node.targets
                if inputs[node.id]:
                    self.error(f"source {node.id!r} takes no inputs", node.path,
                               hint="only stages and sinks can be named in 'outputs' / 'next'")
                continue
            explicit = bool(inputs[node.id])
            if not explicit and open_tail:
                inputs[node.id] = list(tail)
            elif not explicit and last is None:
                if has_source:  # with no source at all, that error says it
                    self.error(f"{node.kind} {node.id!r} takes no records: nothing comes before it", node.path,
                               hint="put it after the source")
            elif not explicit and last is not None:
                why = f"follows {'router ' if last.router else ''}{last.id!r}, which sends its records elsewhere"
                self.error(f"{node.kind} {node.id!r} takes no records: it {why}", node.path,
                           hint=f"name {node.id!r} in a route's 'next'" if last.router
                           else f"add {node.id!r} to the 'outputs' of {last.id!r}")
            node.inputs = inputs[node.id]
            if node.kind != "sink":
                tail, last, open_tail = [node.id], node, not node.targets and not node.router
                continue
            if explicit:  # the sinks after it, in a row, take the same records
                tail, last, open_tail = list(node.inputs), node, True
            after = self.nodes[i + 1] if i + 1 < len(self.nodes) else None
            if self.shape == "chain" and after is not None and after.kind == "stage" and not inputs[after.id]:
                self.error(f"{node.raw['type']} {node.id!r} writes records but passes none on, so {after.id!r} "
                           "after it would not get what it wrote", node.path,
                           hint=f"put {node.id!r} last in its branch, or wire {after.id!r} with 'next'")


def to_canonical(doc: Located, registry: ComponentRegistry) -> tuple[Shape, list[ConfigError]]:
    """Rewrite ``doc.data`` from an original shape into today's (in place); the shape and the errors found."""
    shape = detect(doc.data)
    if shape in ("flat", "actor"):
        return shape, []
    data = dict(doc.data)
    reader = _Reader(doc, registry, shape)
    canonical: dict[str, Any] = {k: v for k, v in data.items() if k not in ("pipeline", "stages")}
    if shape == "tree":
        root = data["pipeline"]
        reader.known(root, ("pipeline",), ("name", "type", "supervision", "children"), "the root supervisor")
        for key in ("sources", "transforms", "sinks", "children", "supervision"):
            if key in data:
                reader.error(f"'{key}' does not go with 'pipeline:'", (key,), key=True,
                             hint="write every component as a child under 'pipeline:'")
        canonical["type"] = "actor"
        if "supervision" in root:
            canonical["supervision"] = root["supervision"]
            doc.aliases[("supervision",)] = ("pipeline", "supervision")
        children = reader.tree(root.get("children") or [], ("pipeline", "children"), [])
        if "children" not in root:
            reader.error("the root supervisor has no children", ("pipeline",),
                         hint="add 'children:' with a source, its stages and a sink")
        reader.wire()
        canonical["children"] = children
        _alias_tree(doc, children, ("children",), reader)
    else:
        for key in ("sources", "transforms", "sinks"):
            if key in data:
                reader.error(f"'{key}' does not go with 'stages:'", (key,), key=True,
                             hint="write the source, stages and sink as one list under 'stages:'")
        reader.chain(data["stages"])
        reader.decide_kinds()
        reader.wire()
        reader.settle()
        sections: dict[str, dict[str, Any]] = {"sources": {}, "transforms": {}, "sinks": {}}
        for node in reader.nodes:
            section = {"source": "sources", "stage": "transforms", "sink": "sinks"}[node.kind or "stage"]
            wiring = {"inputs": node.inputs} if node.kind != "source" else {}
            sections[section][node.id] = {"type": node.raw["type"], **wiring, **node.raw}  # as today's files
            _alias_node(doc, (section, node.id), node)
        canonical.update({k: v for k, v in sections.items() if v})
    doc.data = canonical
    return shape, reader.errors


def _alias_node(doc: Located, path: Path, node: _Node) -> None:
    doc.aliases[path] = node.config_path if node.config_path in doc.values else node.path
    doc.aliases[(*path, "type")] = node.type_path
    doc.aliases[(*path, "inputs")] = node.path
    for key in _COMMON:
        if key in node.raw and (*node.path, key) in doc.values:
            doc.aliases[(*path, key)] = (*node.path, key)


def _alias_tree(doc: Located, children: list[dict[str, Any]], path: Path, reader: _Reader) -> None:
    by_id = {n.id: n for n in reader.nodes}
    for i, child in enumerate(children):
        cpath = (*path, i)
        if child.get("type") == "supervisor":
            doc.aliases[cpath] = reader.written[id(child)]
            _alias_tree(doc, child["children"], (*cpath, "children"), reader)
            continue
        node = by_id[child["id"]]
        doc.aliases[cpath] = node.path
        if node.inputs:  # written before the component, as in today's shape
            component = child.pop("component")
            child.update(inputs=node.inputs, component=component)
        _alias_node(doc, (*cpath, "component"), node)
        doc.aliases[(*cpath, "inputs")] = node.path

