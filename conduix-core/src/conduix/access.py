"""What a pipeline reaches outside itself, and allow-lists that say what an agent lets pipelines reach.

Each component class tells, from its config, whether it runs code the pipeline names, which files it reads
or writes and which hosts it connects to (:meth:`conduix.components.Source.access` and friends, returning
:class:`Access`). :class:`AccessPolicy` checks a resolved pipeline against an agent's allow-list before any
component is built; a control plane uses :func:`runs_code` to require its admin role for code.
"""

from __future__ import annotations

import glob
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from conduix.errors import ConfigError

if TYPE_CHECKING:
    from conduix.config.spec import ComponentSpec, PipelineSpec

__all__ = ["Access", "AccessPolicy", "host_of", "runs_code"]


@dataclass(frozen=True)
class Access:
    """What one component reaches, from its config (paths as written, hosts as URLs or ``host[:port]``)."""

    code: bool = False  #: runs code the pipeline names (a ``python`` stage)
    reads: tuple[str, ...] = ()  #: files (or glob patterns) it reads
    writes: tuple[str, ...] = ()  #: files it writes
    hosts: tuple[str, ...] = ()  #: where it connects


def runs_code(spec: PipelineSpec) -> list[str]:
    """Ids of the components that run code the pipeline names (works on a check-mode spec too)."""
    return [c.id for c in spec.components.values() if _access(c).code]


def host_of(target: str) -> str | None:
    """The host name or IP address in a URL or ``host[:port]`` (``[v6]:port`` too), lower case; None if none."""
    target = target.strip()
    if not target:
        return None
    if "://" not in target:
        target = "tcp://" + target
    try:
        host = urlsplit(target).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _access(component: ComponentSpec) -> Access:
    method: Any = getattr(component.cls, "access", None)
    return method(component.config) if method is not None else Access()


def _hosts(patterns: Iterable[str]) -> list[str]:
    return [p.strip().lower() for p in patterns if p.strip()]


@dataclass
class AccessPolicy:
    """An agent's allow-list. ``paths`` None: any file; ``hosts`` None: any host.

    - ``allow_code``: components that run code the pipeline names (``python`` stages) may run;
    - ``paths``: folders that files read or written must be in (after resolving ``..`` and symbolic links;
      relative paths start at ``cwd``, the run's folder, which is always allowed);
    - ``hosts``: host names (``db.example.com``), wildcards (``*.example.com``) or networks
      (``10.0.0.0/8``, ``::1``) that connections may go to; ``*`` allows any.
    """

    allow_code: bool = False
    paths: Sequence[Path] | None = None
    hosts: Sequence[str] | None = None
    cwd: Path = field(default_factory=Path.cwd)

    def check(self, spec: PipelineSpec) -> list[ConfigError]:
        """Every component (and pipeline setting) reaching outside the allow-list, as errors at its YAML path."""
        errors: list[ConfigError] = []
        for component in spec.components.values():
            access = _access(component)
            where = component.path or component.id
            if access.code and not self.allow_code:
                errors.append(ConfigError(
                    f"{component.kind} {component.id!r} ({component.type_name}) runs code named by the pipeline, "
                    "and this agent does not allow that", path=where,
                    hint="start the agent with --allow-code if pipelines' authors may run code on it"))
            for path in (*access.reads, *access.writes):
                errors += self._path(path, where)
            for target in access.hosts:
                errors += self._host(target, where)
            if component.buffer is not None and component.buffer.path:
                errors += self._path(component.buffer.path, f"{where}.buffer.path")
        store = spec.settings.checkpoint.store
        if store:
            if "://" in store:
                errors += self._host(store, "settings.checkpoint.store")
            else:
                errors += self._path(store, "settings.checkpoint.store")
        if spec.settings.telemetry.otlp_endpoint:
            errors += self._host(spec.settings.telemetry.otlp_endpoint, "settings.telemetry.otlp_endpoint")
        return errors

    def _path(self, path: str, where: str) -> list[ConfigError]:
        if self.paths is None:
            return []
        real = _real(path, self.cwd)
        allowed = [Path(os.path.realpath(p)) for p in (*self.paths, self.cwd)]
        if any(real == a or a in real.parents for a in allowed):
            return []
        return [ConfigError(f"path {path!r} is outside the folders this agent lets pipelines use", path=where,
                            hint="use a path under " + ", ".join(str(p) for p in self.paths)
                                 + " (or start the agent with --allow-path for its folder)")]

    def _host(self, target: str, where: str) -> list[ConfigError]:
        if self.hosts is None or "*" in self.hosts:
            return []
        host = host_of(target)
        if host is not None and any(_matches(host, pattern) for pattern in _hosts(self.hosts)):
            return []
        return [ConfigError(f"host {host or target!r} is not among the hosts this agent lets pipelines reach",
                            path=where, hint=f"allowed: {', '.join(self.hosts) or 'none'} (agent option --allow-host)")]


def _real(path: str, cwd: Path) -> Path:
    """The real place of ``path``: its part before any glob character, ``~`` and ``..`` resolved, links followed."""
    text = os.path.expanduser(path)
    if not os.path.isabs(text):
        text = os.path.join(cwd, text)
    text = os.path.normpath(text)
    fixed: list[str] = []
    for part in Path(text).parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(os.path.realpath(os.path.join(*fixed) if fixed else os.sep))


def _matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    try:
        network = ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return host == pattern
    try:
        return ipaddress.ip_address(host.strip("[]")) in network
    except ValueError:
        return False
