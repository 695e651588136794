"""The validated, resolved form of a pipeline: what the runtime builds from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from conduix.components import ComponentConfig, Context
from conduix.config.model import BufferSettings, ChildSettings, ComponentPolicy, Settings, SupervisionSettings
from conduix.registry import Kind

__all__ = ["ComponentSpec", "InputRef", "PipelineSpec", "SupervisionNode"]


@dataclass(frozen=True)
class InputRef:
    """``component`` or ``component.output``."""

    component: str
    output: str | None = None

    def __str__(self) -> str:
        return self.component if self.output is None else f"{self.component}.{self.output}"


@dataclass
class ComponentSpec:
    id: str
    kind: Kind
    type_name: str
    cls: Any
    config: ComponentConfig
    inputs: list[InputRef] = field(default_factory=list)
    path: str = ""
    outputs: list[str] = field(default_factory=list)
    policy: ComponentPolicy = field(default_factory=lambda: ComponentPolicy())
    buffer: BufferSettings | None = None
    outputs_known: bool = True  #: False: a plugin stage whose outputs only a built instance knows (check mode)

    def build(self, context: Context) -> Any:
        """A fresh component instance for one run."""
        return self.cls(self.config, context)


@dataclass
class SupervisionNode:
    """A supervisor of the hierarchical format: settings plus children (nodes or component ids)."""

    id: str
    settings: SupervisionSettings
    children: list[SupervisionNode | str] = field(default_factory=list)

    def component_ids(self) -> list[str]:
        out: list[str] = []
        for child in self.children:
            out.extend(child.component_ids() if isinstance(child, SupervisionNode) else [child])
        return out


@dataclass
class PipelineSpec:
    name: str
    components: dict[str, ComponentSpec]
    settings: Settings = field(default_factory=lambda: Settings())
    description: str | None = None
    delivery: str = "at_least_once"
    format: str = "pipeline"
    supervision: SupervisionNode | None = None
    file: str | None = None
    warnings: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    data_type: str | None = None
    parent: str | None = None
    child: ChildSettings = field(default_factory=lambda: ChildSettings())
    data_output: str | None = None
    shape: str = "flat"
    """How the file is written: ``flat`` or ``actor`` (today's), ``tree`` or ``chain`` (the original README's
    ``pipeline:`` actor tree and ``stages:`` chain, read into today's model)."""

    def subset(self, source_ids: list[str]) -> PipelineSpec:
        """The part of the pipeline fed by ``source_ids``: those sources and everything downstream of them
        (inputs from outside the part are left out)."""
        keep = set(source_ids)
        for spec in self.topological():
            if any(ref.component in keep for ref in spec.inputs):
                keep.add(spec.id)
        components = {}
        for cid, spec in self.components.items():
            if cid in keep:
                components[cid] = replace(spec, inputs=[ref for ref in spec.inputs if ref.component in keep])
        return replace(self, components=components)

    def data_inputs(self) -> list[InputRef]:
        """Where the records of this pipeline's data type come from: ``data_output``, else its sinks' inputs."""
        if self.data_output is not None:
            return [InputRef(self.data_output)]
        seen: list[InputRef] = []
        for sink in self.of_kind("sink"):
            for ref in sink.inputs:
                if ref not in seen and ref.output != "dead_letter":
                    seen.append(ref)
        return seen

    def of_kind(self, kind: Kind) -> list[ComponentSpec]:
        return [c for c in self.components.values() if c.kind == kind]

    def consumers(self, component_id: str, output: str | None = None) -> list[ComponentSpec]:
        return [c for c in self.components.values()
                if any(ref.component == component_id and ref.output == output for ref in c.inputs)]

    def topological(self) -> list[ComponentSpec]:
        """Components ordered so every component comes after its inputs."""
        done: dict[str, ComponentSpec] = {}

        def visit(spec: ComponentSpec) -> None:
            if spec.id in done:
                return
            for ref in spec.inputs:
                visit(self.components[ref.component])
            done[spec.id] = spec

        for spec in self.components.values():
            visit(spec)
        return list(done.values())
