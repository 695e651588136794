"""A project: several pipeline files whose ``data_type`` / ``parent`` keys form a DAG."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from conduix.config import PipelineSpec, load_pipeline
from conduix.errors import ConfigError
from conduix.registry import ComponentRegistry

__all__ = ["ChildRequest", "Project", "Relation", "load_project"]

PROJECT_FILE = "project.yaml"


@dataclass(frozen=True)
class Relation:
    """``child`` depends on ``parent``: per parent record (different data types) or through a topic (same)."""

    parent: str
    child: str
    kind: Literal["per_record", "boundary"]


@dataclass
class ChildRequest:
    """Run ``pipeline`` with ``parameters``, as a child of ``parent_run``."""

    pipeline: str
    parameters: dict[str, Any]
    parent_run: str | None = None


@dataclass
class Project:
    name: str
    root: Path
    pipelines: dict[str, PipelineSpec]
    relations: list[Relation] = field(default_factory=list)
    concurrency: int = 8

    def children(self, pipeline: str, kind: str | None = None) -> list[str]:
        return [r.child for r in self.relations if r.parent == pipeline and (kind is None or r.kind == kind)]

    def record_children(self, pipeline: str) -> list[str]:
        """The children whose runs the project starts per record ``pipeline`` delivers: those declaring it their
        ``parent:``, except the ones a ``trigger`` stage of ``pipeline`` starts itself (once per record, not
        twice)."""
        return [c for c in self.children(pipeline, "per_record") if c not in triggered(self.pipelines[pipeline])]

    def parent_of(self, pipeline: str) -> Relation | None:
        return next((r for r in self.relations if r.child == pipeline), None)

    def roots(self) -> list[str]:
        """Pipelines that start on their own: no parent, or connected to it by a topic (pattern 2)."""
        return [name for name in self.pipelines
                if (rel := self.parent_of(name)) is None or rel.kind == "boundary"]

    def descendants(self, pipeline: str) -> list[str]:
        out: list[str] = []
        for child in self.children(pipeline, "per_record"):
            out += [child, *self.descendants(child)]
        return out

    def mermaid(self) -> list[str]:
        lines = ["flowchart TD"]
        for name, spec in self.pipelines.items():
            label = f"{name}<br/>{spec.data_type}" if spec.data_type else name
            lines.append(f'    {name}["{label}"]')
        for rel in self.relations:
            arrow = "-->|per record|" if rel.kind == "per_record" else "-.->|topic|"
            lines.append(f"    {rel.parent} {arrow} {rel.child}")
        return lines

    def text(self) -> list[str]:
        lines: list[str] = []

        def walk(name: str, depth: int) -> None:
            spec = self.pipelines[name]
            rel = self.parent_of(name)
            how = "" if rel is None else (" (per parent record)" if rel.kind == "per_record" else " (via topic)")
            lines.append(f"{'  ' * depth}{name}{f' [{spec.data_type}]' if spec.data_type else ''}{how}")
            for child in self.children(name):
                walk(child, depth + 1)

        for root in [n for n in self.pipelines if self.parent_of(n) is None]:
            walk(root, 0)
        return lines


def _files(path: Path) -> tuple[str, list[Path], int]:
    if path.is_file():
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict) or not isinstance(data.get("pipelines"), list):
            raise ConfigError("a project file lists its pipeline files under 'pipelines:'", file=str(path),
                              hint="pipelines: [boards.yaml, posts.yaml]")
        unknown = set(data) - {"name", "pipelines", "concurrency"}
        if unknown:
            raise ConfigError(f"unknown key {sorted(unknown)[0]!r} in the project file", file=str(path),
                              hint="use name, pipelines, concurrency")
        files = [path.parent / str(f) for f in data["pipelines"]]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise ConfigError(f"pipeline file {missing[0]} listed in the project does not exist", file=str(path))
        return str(data.get("name") or path.parent.name), files, int(data.get("concurrency", 8))
    if path.is_dir():
        listed = path / PROJECT_FILE
        if listed.is_file():
            return _files(listed)
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        if not files:
            raise ConfigError(f"no pipeline files (*.yaml) in {path}", hint="point at a project folder or file")
        return path.name, files, 8
    raise ConfigError(f"project {path} does not exist", hint="give a folder of pipeline files or a project.yaml")


def load_project(path: str | Path, *, registry: ComponentRegistry | None = None) -> Project:
    """Load every pipeline and validate the graph: unknown parents, ambiguous types, cycles, triggers."""
    root = Path(path)
    name, files, concurrency = _files(root)
    pipelines: dict[str, PipelineSpec] = {}
    errors: list[ConfigError] = []
    for file in files:
        try:
            spec = load_pipeline(file, registry=registry)
        except ConfigError as exc:
            errors.extend(exc.errors)
            continue
        if spec.name in pipelines:
            errors.append(ConfigError(f"pipeline name {spec.name!r} is used twice (also in "
                                      f"{pipelines[spec.name].file})", file=str(file), path="name",
                                      hint="give each pipeline its own name"))
            continue
        pipelines[spec.name] = spec
    if errors:
        raise ConfigError.collect(errors)
    project = Project(name, root if root.is_dir() else root.parent, pipelines, concurrency=concurrency)
    project.relations = _relations(pipelines, errors)
    if not errors:
        _check_cycles(project, errors)
        _check_triggers(project, errors)
    if errors:
        raise ConfigError.collect(errors)
    return project


def _relations(pipelines: dict[str, PipelineSpec], errors: list[ConfigError]) -> list[Relation]:
    producers: dict[str, list[str]] = {}
    for spec in pipelines.values():
        if spec.data_type:
            producers.setdefault(spec.data_type, []).append(spec.name)
    relations = []
    for spec in pipelines.values():
        if spec.parent is None:
            continue
        if spec.parent in pipelines:
            parent = spec.parent
        elif spec.parent in producers and len(producers[spec.parent]) == 1:
            parent = producers[spec.parent][0]
        elif spec.parent in producers:
            errors.append(ConfigError(f"parent data type {spec.parent!r} is produced by several pipelines: "
                                      f"{', '.join(producers[spec.parent])}", file=spec.file, path="parent",
                                      hint="name the parent pipeline instead of its data type"))
            continue
        else:
            known = sorted(set(pipelines) | set(producers))
            close = difflib.get_close_matches(spec.parent, known, n=1, cutoff=0.5)
            errors.append(ConfigError(f"parent {spec.parent!r} is neither a pipeline nor a data type of this project",
                                      file=spec.file, path="parent",
                                      hint=f"did you mean {close[0]!r}?" if close else
                                      f"known: {', '.join(known) or 'none'}"))
            continue
        if parent == spec.name:
            errors.append(ConfigError(f"pipeline {spec.name!r} is its own parent", file=spec.file, path="parent"))
            continue
        parent_type = pipelines[parent].data_type
        same = spec.data_type is not None and parent_type == spec.data_type
        relations.append(Relation(parent, spec.name, "boundary" if same else "per_record"))
    return relations


def _check_cycles(project: Project, errors: list[ConfigError]) -> None:
    parents = {r.child: r.parent for r in project.relations}
    reported: set[frozenset[str]] = set()
    for start in project.pipelines:
        trail = [start]
        node = start
        while node in parents:
            node = parents[node]
            if node in trail:
                cycle = [*trail[trail.index(node):], node]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    errors.append(ConfigError("the pipelines form a cycle: " + " -> ".join(cycle),
                                              file=project.pipelines[node].file, path="parent",
                                              hint="a pipeline cannot (indirectly) be its own parent"))
                break
            trail.append(node)


def triggered(spec: PipelineSpec) -> set[str]:
    """The pipelines the ``trigger`` stages of ``spec`` start."""
    return {str(getattr(c.config, "pipeline", "")) for c in spec.components.values() if c.type_name == "trigger"}


def _check_triggers(project: Project, errors: list[ConfigError]) -> None:
    for spec in project.pipelines.values():
        for component in spec.components.values():
            if component.type_name != "trigger":
                continue
            target = getattr(component.config, "pipeline", None)
            if target not in project.pipelines:
                close = difflib.get_close_matches(str(target), list(project.pipelines), n=1, cutoff=0.5)
                errors.append(ConfigError(f"trigger {component.id!r} names pipeline {target!r}, which is not in "
                                          "the project", file=spec.file, path=f"{component.path}.pipeline",
                                          hint=f"did you mean {close[0]!r}?" if close else
                                          f"known: {', '.join(project.pipelines)}"))
                continue
            rel = project.parent_of(str(target))
            if rel is not None and rel.parent != spec.name:
                errors.append(ConfigError(
                    f"trigger {component.id!r} starts {target!r}, whose parent is {rel.parent!r}, not {spec.name!r}",
                    file=spec.file, path=f"{component.path}.pipeline",
                    hint=f"trigger it from {rel.parent!r}, or set 'parent: {spec.name}' in {target!r}"))
