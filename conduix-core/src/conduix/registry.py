"""The component registry: type names to lazily imported classes (or classes and functions given directly)."""

from __future__ import annotations

import copy
import difflib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from conduix.errors import ConfigError, PluginError

__all__ = ["ComponentEntry", "ComponentRegistry", "Kind", "import_target"]

Kind = Literal["source", "stage", "sink"]
KINDS: tuple[Kind, ...] = ("source", "stage", "sink")
DIRECT = "<direct>"
"""The plugin name of components added in Python, not by a plugin's hook."""


def import_target(target: str) -> Any:
    """The object ``"module:attribute"`` names (``attribute`` may be dotted); a PluginError says what is wrong."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"{target!r} is not 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import {module_name} for {target!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{target!r}: {module_name} has no {attr}") from None
    return obj


@dataclass
class ComponentEntry:
    kind: Kind
    type_name: str
    target: str
    plugin: str
    distribution: str | None = None
    version: str | None = None
    obj: type[Any] | None = None
    """The class itself, when it was registered as a class (``target`` then only names it)."""

    def load(self) -> type[Any]:
        """Import and return the component class, with an install hint if that fails."""
        if self.obj is not None:
            return self.obj
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
        self._current: tuple[str, str | None, str | None] = (DIRECT, None, None)

    def _add(self, kind: Kind, type_name: str, target: str | type[Any]) -> None:
        obj = None
        if not isinstance(target, str):
            obj, target = target, f"{target.__module__}:{target.__qualname__}"
        if ":" not in target:
            raise PluginError(f"{kind} {type_name!r}: register as 'module:Class', got {target!r}")
        plugin, dist, version = self._current
        existing = self._entries.get((kind, type_name))
        if existing is not None and (existing.target != target or existing.obj is not obj):
            if plugin == DIRECT or existing.plugin == DIRECT:
                raise PluginError(f"{kind} type {type_name!r} is taken ({existing.target}, from "
                                  f"{existing.distribution or existing.plugin}); give {target} another name")
            raise PluginError(
                f"two plugins claim {kind} type {type_name!r}: {existing.distribution or existing.plugin} "
                f"({existing.target}) and {dist or plugin} ({target}); uninstall one of them"
            )
        self._entries[(kind, type_name)] = ComponentEntry(kind, type_name, target, plugin, dist, version, obj)

    def add_source(self, type_name: str, target: str | type[Any]) -> None:
        """Register a source class, by ``"module:Class"`` (imported when a pipeline uses it) or itself."""
        self._add("source", type_name, target)

    def add_stage(self, type_name: str, target: str | type[Any]) -> None:
        """Register a stage class, by ``"module:Class"`` (imported when a pipeline uses it) or itself."""
        self._add("stage", type_name, target)

    def add_sink(self, type_name: str, target: str | type[Any]) -> None:
        """Register a sink class, by ``"module:Class"`` (imported when a pipeline uses it) or itself."""
        self._add("sink", type_name, target)

    def add(self, type_name: str, component: type[Any] | Callable[..., Any] | str) -> Kind:
        """Register a Source, Stage or Sink class, or a function (a stage calling it per record), given
        itself or as ``"module:attribute"`` (imported now: its kind decides where it goes). Returns the kind."""
        obj: Any = import_target(component) if isinstance(component, str) else component
        kind = getattr(obj, "kind", None) if inspect.isclass(obj) else None
        if kind not in KINDS:
            if inspect.isclass(obj) or not callable(obj):
                raise PluginError(f"component {type_name!r}: {obj!r} is not a Source, Stage or Sink class "
                                  "nor a function")
            from conduix.builtins.python_stage import function_stage

            obj, kind = function_stage(obj), "stage"
        found: Kind = kind  # type: ignore[assignment]
        self._add(found, type_name, obj)
        return found

    def copy(self) -> ComponentRegistry:
        """A registry with the same entries, to add to without changing this one."""
        other = copy.copy(self)
        other._entries = dict(self._entries)
        return other

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
