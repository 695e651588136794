"""Plugin discovery: the ``conduix`` entry-point group, loaded through pluggy."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType

import pluggy

from conduix import hookspecs
from conduix.errors import PluginError
from conduix.registry import DIRECT, ComponentRegistry

__all__ = ["BrokenPlugin", "PluginHost", "get_plugin_host", "make_plugin_manager"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "conduix"


@dataclass
class BrokenPlugin:
    name: str
    distribution: str | None
    error: str


@dataclass
class PluginHost:
    """The plugin manager, the filled registry and the plugins that failed to load."""

    manager: pluggy.PluginManager
    registry: ComponentRegistry
    broken: list[BrokenPlugin] = field(default_factory=list)
    distributions: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


def make_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("conduix")
    pm.add_hookspecs(hookspecs)
    return pm


def _load_entry_points(pm: pluggy.PluginManager, host: PluginHost) -> None:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        meta = ep.dist.metadata if ep.dist is not None else None  # read once: .name and .version each parse it
        dist = meta["Name"] if meta is not None else None
        version = meta["Version"] if meta is not None else None
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            logger.warning("plugin %r from %s failed to load and is skipped: %s", ep.name, dist, exc)
            host.broken.append(BrokenPlugin(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        pm.register(plugin, name=ep.name)
        host.distributions[ep.name] = (dist, version)


def get_plugin_host(extra_plugins: list[ModuleType | object] | None = None,
                    *, entry_points: bool = True) -> PluginHost:
    """Build a fresh plugin manager, load every installed plugin and fill the registry.

    ``extra_plugins`` are registered directly (tests, embedded use). Duplicate
    type names raise :class:`~conduix.errors.PluginError`.
    """
    pm = make_plugin_manager()
    host = PluginHost(pm, ComponentRegistry())
    if entry_points:
        _load_entry_points(pm, host)
    else:
        pm.register(importlib.import_module("conduix.builtins.plugin"), name="builtins")
        host.distributions["builtins"] = _own_distribution()
    for plugin in extra_plugins or []:
        name = getattr(plugin, "__name__", None) or repr(plugin)
        pm.register(plugin, name=name)
    if pm.get_plugin("builtins") is None:  # running from a source tree without metadata
        pm.register(importlib.import_module("conduix.builtins.plugin"), name="builtins")
        host.distributions["builtins"] = _own_distribution()
    registry = host.registry
    for impl in pm.hook.conduix_register_components.get_hookimpls():
        dist, version = host.distributions.get(impl.plugin_name, (None, None))
        registry._current = (impl.plugin_name, dist, version)
        try:
            impl.function(registry=registry)
        except PluginError:
            raise
        except Exception as exc:
            logger.warning("plugin %r from %s failed to register and is skipped: %s",
                           impl.plugin_name, dist, exc)
            host.broken.append(BrokenPlugin(impl.plugin_name, dist, f"{type(exc).__name__}: {exc}"))
    registry._current = (DIRECT, None, None)
    return host


def _own_distribution() -> tuple[str | None, str | None]:
    try:
        return "conduix-core", metadata.version("conduix-core")
    except metadata.PackageNotFoundError:
        return "conduix-core", None
