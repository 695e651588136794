"""Build a pipeline in Python, source -> stages -> sinks, into the same model as its YAML.

    from conduix import Pipeline

    pipeline = (Pipeline.builder("doubled", settings={"batch_size": 100})
                .source("nums", "generate", count=10)
                .stage("double", Double)                 # a Stage class, a function or a type name
                .sink("out", "stdout")
                .build())

Each stage or sink reads from what was added just before it (all the sources added in a row, or
the last stage) unless ``inputs=[...]`` says otherwise; sinks do not move that point, so several sinks
in a row all read the last stage. :meth:`PipelineBuilder.to_dict` is the YAML model
(``sources``/``transforms``/``sinks``), :meth:`PipelineBuilder.to_yaml` its text.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from conduix.errors import ConfigError

if TYPE_CHECKING:
    from conduix.api import ComponentLike, Pipeline
    from conduix.plugins import PluginHost

__all__ = ["PipelineBuilder"]

_SECTIONS = {"source": "sources", "stage": "transforms", "sink": "sinks"}


def _type_name(component: Any) -> str:
    """``Double`` -> ``double``, ``MaskStage`` -> ``mask_stage``, a function ``add_one`` -> ``add_one``."""
    name = getattr(component, "__name__", None) or type(component).__name__
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class PipelineBuilder:
    """Collects components in the order a pipeline reads (source -> stages -> sinks); :meth:`build` validates
    them into a :class:`~conduix.Pipeline` exactly as if they came from YAML."""

    def __init__(self, name: str = "pipeline", **header: Any) -> None:
        self.name = name
        self.header = header
        self.sections: dict[str, dict[str, dict[str, Any]]] = {"sources": {}, "transforms": {}, "sinks": {}}
        self.components: dict[str, ComponentLike] = {}
        self._tail: list[str] = []
        self._last_kind: str | None = None

    def source(self, component_id: str, type: ComponentLike, **config: Any) -> PipelineBuilder:
        """Add a source; ``type`` is an installed type name, or a Source class of your own."""
        self._add("source", component_id, type, None, config)
        self._tail = [*self._tail, component_id] if self._last_kind == "source" else [component_id]
        self._last_kind = "source"
        return self

    def stage(self, component_id: str, type: ComponentLike, *, inputs: list[str] | None = None,
              **config: Any) -> PipelineBuilder:
        """Add a stage (a type name, a Stage class, or a function called per record) reading ``inputs``
        (default: what was added just before)."""
        self._add("stage", component_id, type, inputs, config)
        self._tail = [component_id]
        self._last_kind = "stage"
        return self

    def sink(self, component_id: str, type: ComponentLike, *, inputs: list[str] | None = None,
             **config: Any) -> PipelineBuilder:
        """Add a sink (a type name or a Sink class) reading ``inputs`` (default: what the last stage, or the
        last sources, emit)."""
        self._add("sink", component_id, type, inputs, config)
        self._last_kind = "sink"
        return self

    def _add(self, kind: str, component_id: str, component: ComponentLike, inputs: list[str] | None,
             config: Mapping[str, Any]) -> None:
        if any(component_id in section for section in self.sections.values()):
            raise ConfigError(f"component id {component_id!r} is used twice", hint="give each component its own id")
        if isinstance(component, str):
            type_name = component
        else:
            type_name = _type_name(component)
            known = self.components.get(type_name)
            if known is not None and known is not component:
                raise ConfigError(f"two components of yours are both named {type_name!r} ({known!r} and "
                                  f"{component!r})", hint="rename one, or pass it as components={name: ...}")
            self.components[type_name] = component
            other = getattr(component, "kind", kind) if inspect.isclass(component) else kind
            if other != kind:
                raise ConfigError(f"{component.__qualname__} is a {other}, not a {kind}",
                                  hint=f"add it with .{other}(...)")
        entry: dict[str, Any] = {"type": type_name}
        if kind != "source":
            entry["inputs"] = list(inputs) if inputs is not None else list(self._tail)
            if not entry["inputs"]:
                raise ConfigError(f"{kind} {component_id!r} has nothing to read",
                                  hint="add a source first, or pass inputs=[...]")
        entry.update(config)
        self.sections[_SECTIONS[kind]][component_id] = entry

    def to_dict(self) -> dict[str, Any]:
        """The pipeline in the shape of its YAML (what ``Pipeline.from_dict`` takes)."""
        data: dict[str, Any] = {"name": self.name, **self.header}
        data.update({section: dict(entries) for section, entries in self.sections.items() if entries})
        return data

    def to_yaml(self) -> str:
        """The YAML text; components given in Python are named in a comment (a YAML file would need them
        installed as a plugin, or passed as ``components=``)."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if self.components:
            given = ", ".join(f"{name} = {getattr(c, '__module__', '?')}:{getattr(c, '__qualname__', c)}"
                              for name, c in self.components.items())
            text = f"# components given in Python: {given}\n" + text
        return text

    def build(self, *, host: PluginHost | None = None) -> Pipeline:
        """Validate into a :class:`~conduix.Pipeline` (a ConfigError names every problem)."""
        from conduix.api import Pipeline

        return Pipeline.from_dict(self.to_dict(), host=host, name=self.name, components=self.components)
