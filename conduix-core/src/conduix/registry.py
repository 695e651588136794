"""The component registry: type names to lazily imported classes."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Literal

from conduix.errors import ConfigError, PluginError

__all__ = ["ComponentEntry", "ComponentRegistry", "Kind"]

Kind = Literal["source", "stage", "sink"]
KINDS: tuple[Kind, ...] = ("source", "stage", "sink")


@dataclass
class ComponentEntry:
    kind: Kind
    type_name: str
    target: str
    plugin: str
    distribution: str | None = None
    version: str | None = None

    def load(self) -> type[Any]:
        """Import and return the component class, with an install hint if that fails."""
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            dist = self.distribution or self.plugin
            raise PluginError(
                f"{self.kind} type {self.type_name!r} could not be imported from {module_name} "
                f"({exc}); reinstall its package: pip install {dist}"
            ) from exc
        try:
            return getattr(module, attr)  # type: ignore[no-any-return,unused-ignore]
        except AttributeError as exc:
            raise PluginError(f"{self.target} named by plugin {self.plugin} does not exist") from exc


class ComponentRegistry:
    """Filled by ``conduix_register_components`` hooks; looked up when building pipelines."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Kind, str], ComponentEntry] = {}
        self._current: tuple[str, str | None, str | None] = ("<direct>", None, None)

    def _add(self, kind: Kind, type_name: str, target: str | type[Any]) -> None:
        if not isinstance(target, str):
            target = f"{target.__module__}:{target.__qualname__}"
        if ":" not in target:
            raise PluginError(f"{kind} {type_name!r}: register as 'module:Class', got {target!r}")
        plugin, dist, version = self._current
        existing = self._entries.get((kind, type_name))
        if existing is not None and existing.target != target:
            raise PluginError(
                f"two plugins claim {kind} type {type_name!r}: {existing.distribution or existing.plugin} "
                f"({existing.target}) and {dist or plugin} ({target}); uninstall one of them"
            )
        self._entries[(kind, type_name)] = ComponentEntry(kind, type_name, target, plugin, dist, version)

    def add_source(self, type_name: str, target: str | type[Any]) -> None:
        self._add("source", type_name, target)

    def add_stage(self, type_name: str, target: str | type[Any]) -> None:
        self._add("stage", type_name, target)

    def add_sink(self, type_name: str, target: str | type[Any]) -> None:
        self._add("sink", type_name, target)

    def entries(self, kind: Kind | None = None) -> list[ComponentEntry]:
        return sorted((e for e in self._entries.values() if kind is None or e.kind == kind),
                      key=lambda e: (KINDS.index(e.kind), e.type_name))

    def names(self, kind: Kind) -> list[str]:
        return [e.type_name for e in self.entries(kind)]

    def get(self, kind: Kind, type_name: str, *, path: str | None = None) -> ComponentEntry:
        entry = self._entries.get((kind, type_name))
        if entry is None:
            known = self.names(kind)
            close = difflib.get_close_matches(type_name, known, n=3, cutoff=0.5)
            other = [k for k in KINDS if k != kind and (k, type_name) in self._entries]
            if close:
                hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
            elif other:
                hint = f"{type_name!r} is a {other[0]}, not a {kind}; move it to the {other[0]}s section"
            else:
                hint = f"known {kind} types: {', '.join(known)}; a plugin package may be missing"
            raise ConfigError(f"unknown {kind} type {type_name!r}", path=path, hint=hint)
        return entry

    def load(self, kind: Kind, type_name: str, *, path: str | None = None) -> type[Any]:
        return self.get(kind, type_name, path=path).load()
