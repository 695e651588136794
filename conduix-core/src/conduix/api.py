"""The public Python API the CLI is built on: load, validate and run pipelines.

:class:`Pipeline` is the one place that builds and runs a pipeline: ``conduix run``, the project runner,
``conduix dlq replay``, :mod:`conduix.testing`, the supervised workers and the control plane's agent all go
through it.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Union

from conduix.config import PipelineSpec, load_pipeline, load_pipeline_text, pipeline_from_dict
from conduix.errors import ConfigError, PluginError
from conduix.paths import default_state_dir
from conduix.plugins import PluginHost, get_plugin_host
from conduix.registry import import_target
from conduix.runtime import PipelineRun, RunResult
from conduix.runtime.stats import ComponentStats

if TYPE_CHECKING:
    from conduix.builder import PipelineBuilder
    from conduix.checkpoint import CheckpointStore, StoreOpener
    from conduix.observability.telemetry import Telemetry
    from conduix.runtime.supervised import SupervisedRun

__all__ = ["ComponentLike", "Pipeline", "Run", "RunHandle", "install_signal_handlers"]

ComponentLike = Union[type, Callable[..., Any], str]  # noqa: UP007 (a runtime alias: | fails on 3.10 here)
"""A Source, Stage or Sink class, a function (a stage calling it per record), or ``"module:attribute"``."""


class RunHandle(Protocol):
    """What :meth:`Pipeline.start` returns, in-process (:class:`~conduix.runtime.PipelineRun`) or supervised
    (:class:`~conduix.runtime.supervised.SupervisedRun`) alike."""

    supervised: bool
    spec: PipelineSpec
    run_id: str
    result: RunResult | None
    metrics_url: str | None

    def stop(self) -> None: ...
    def abort(self, reason: str = ...) -> None: ...
    def join(self, timeout: float | None = None) -> bool: ...
    @property
    def done(self) -> bool: ...
    @property
    def error(self) -> BaseException | None: ...
    @property
    def stopping(self) -> bool: ...
    def stats(self) -> dict[str, ComponentStats]: ...
    def status(self) -> dict[str, Any]: ...
    def metrics_text(self) -> bytes: ...
    def on_done(self, callback: Callable[[], None]) -> None: ...
    def raise_for_error(self) -> None: ...


Run = Union[PipelineRun, "SupervisedRun"]


class Pipeline:
    """A validated pipeline, ready to run any number of times.

    >>> p = Pipeline.from_yaml("examples/quickstart.yaml")
    >>> result = p.run()          # blocks until the sources end
    >>> run = p.start()           # background; run.stop(), run.join(), run.stats()

    A run is supervised (one worker process per slice, restarted by supervisors) by the same rule as
    ``conduix run``: the hierarchical format (``type: actor``), a ``supervision:`` block, ``settings.workers``
    above 1, or a source that plans its own slices; ``supervised=True/False`` overrides it.

    ``components`` maps type names to classes or functions of your own, used like installed ones
    (``type: double``) without a plugin: ``Pipeline.from_dict(data, components={"double": Double})``.
    """

    def __init__(self, spec: PipelineSpec, host: PluginHost | None = None, *,
                 components: Mapping[str, ComponentLike] | None = None) -> None:
        self.spec = spec
        self.host = host
        self.components = dict(components or {})

    @classmethod
    def from_yaml(cls, path: str | Path, *, host: PluginHost | None = None, params: Mapping[str, Any] | None = None,
                  components: Mapping[str, ComponentLike] | None = None) -> Pipeline:
        """Read and validate a pipeline file; ``params`` fills ``${params.NAME}``."""
        host = with_components(host, components)
        return cls(load_pipeline(path, registry=host.registry, params=params), host, components=components)

    @classmethod
    def from_text(cls, text: str, *, host: PluginHost | None = None, name: str = "pipeline",
                  file: str | None = None, params: Mapping[str, Any] | None = None,
                  components: Mapping[str, ComponentLike] | None = None, resolve: bool = True,
                  build: bool = True) -> Pipeline:
        """Validate pipeline YAML given as text (``file`` names it in error messages).

        ``resolve=False`` only checks it (core's check mode, for servers validating other people's YAML):
        no ``${VAR}`` resolved, no file read, nothing it names imported; ``build=False`` resolves ``${VAR}`` but
        reads, imports and builds nothing (to check what it reaches first). Neither is for running.
        """
        host = with_components(host, components)
        return cls(load_pipeline_text(text, file=file, registry=host.registry, default_name=name, params=params,
                                      resolve=resolve, build=build), host, components=components)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, host: PluginHost | None = None, name: str = "pipeline",
                  components: Mapping[str, ComponentLike] | None = None) -> Pipeline:
        """Validate a pipeline given as Python data, in the shape of the YAML."""
        host = with_components(host, components)
        return cls(pipeline_from_dict(data, registry=host.registry, name=name), host, components=components)

    @staticmethod
    def builder(name: str = "pipeline", **header: Any) -> PipelineBuilder:
        """A :class:`~conduix.builder.PipelineBuilder`: ``.source(...)``, ``.stage(...)``, ``.sink(...)``,
        ``.build()``; ``header`` holds the other top-level keys (``settings={...}``, ``description=...``)."""
        from conduix.builder import PipelineBuilder

        return PipelineBuilder(name, **header)

    @property
    def name(self) -> str:
        return self.spec.name

    def subset(self, sources: list[str]) -> Pipeline:
        """The part of the pipeline fed by ``sources`` (what one supervised worker of those sources runs)."""
        return Pipeline(self.spec.subset(sources), self.host, components=self.components)

    def wants_supervision(self) -> bool:
        """Whether a run is supervised unless told otherwise (the rule ``conduix run`` follows)."""
        from conduix.runtime.supervised import wants_supervision

        return wants_supervision(self.spec)

    def open_checkpoints(self, state_dir: str | Path | None = None, *, default_url: str | None = None,
                         **options: Any) -> CheckpointStore:
        """The checkpoint store of ``settings.checkpoint.store``, else of ``default_url`` (files under
        ``state_dir`` when neither is set); ``options`` go to :func:`conduix.checkpoint.open_store`."""
        from conduix.checkpoint import open_store

        return open_store(self.spec.settings.checkpoint.store or default_url,
                          Path(state_dir) if state_dir is not None else default_state_dir(), **options)

    # -- runs ------------------------------------------------------------------------------------
    def create_run(self, *, state_dir: str | Path | None = None, parameters: dict[str, Any] | None = None,
                   checkpoints: CheckpointStore | StoreOpener | bool = True,
                   services: dict[str, Any] | None = None,
                   run_id: str | None = None, checkpoint_id: str | None = None, slice_index: int = 0,
                   slice_count: int = 1, slice_params: dict[str, Any] | None = None,
                   metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                   telemetry: Telemetry | None = None) -> PipelineRun:
        """An in-process run, not started yet (``run.start()``): the components built, the checkpoint
        restored, telemetry attached (see :meth:`start` for the arguments)."""
        from conduix.checkpoint import StoreOpener
        from conduix.observability.attach import observe

        state = Path(state_dir) if state_dir is not None else default_state_dir()
        if isinstance(checkpoints, StoreOpener):
            store: CheckpointStore | None = checkpoints.open(state)
        else:
            store = self.open_checkpoints(state) if checkpoints is True else (checkpoints or None)
        run = PipelineRun(self.spec, state_dir=state, parameters=parameters,
                          hooks=self.host.manager if self.host else None, services=services, run_id=run_id,
                          checkpoints=store, checkpoint_id=checkpoint_id, slice_index=slice_index,
                          slice_count=slice_count, slice_params=slice_params)
        run.metrics_url = observe(run, port=metrics_port, host=metrics_host, telemetry=telemetry)
        return run

    def start(self, *, state_dir: str | Path | None = None, parameters: dict[str, Any] | None = None,
              supervised: bool | None = None, metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
              admin_port: int | None = None, checkpoints: CheckpointStore | StoreOpener | bool = True,
              services: dict[str, Any] | None = None, run_id: str | None = None,
              telemetry: Telemetry | None = None, handle_signals: bool = False) -> Run:
        """Start the pipeline in the background and return its run: ``stop()``, ``join()``, ``status()``,
        ``stats()``, ``result``.

        - ``state_dir``: checkpoints, buffers and status files (default ``$CONDUIX_STATE_DIR`` or ``.conduix``).
        - ``parameters``: the run's parameters (``${params.NAME}``, a child run's).
        - ``supervised``: True/False overrides :meth:`wants_supervision`.
        - ``metrics_port``: serve ``/metrics`` (Prometheus), ``/health``, ``/ready``, ``/status`` (and ``/tap``
          in-process) on this port (0: a free one; ``run.metrics_url`` says where). OTLP export follows
          ``settings.telemetry`` by itself.
        - ``admin_port``: the actor system's admin port of a supervised run (default: a free one).
        - ``checkpoints``: True opens the store of ``settings.checkpoint.store``; False keeps none (a run
          that is repeated whole); a store of your own (in-process runs); or a
          :class:`~conduix.checkpoint.StoreOpener` every process of the run opens for itself.
        - ``services``: what components find in ``context.services`` (in-process runs only).
        - ``telemetry``: a :class:`~conduix.observability.Telemetry` shared with other runs, instead of one
          of the run's own.
        - ``handle_signals``: SIGINT/SIGTERM stop the run gracefully (a second one aborts it); the handlers
          stay installed, for programs that run one pipeline and exit.
        """
        run = self.prepare(state_dir=state_dir, parameters=parameters, supervised=supervised,
                           metrics_port=metrics_port, metrics_host=metrics_host, admin_port=admin_port,
                           checkpoints=checkpoints, services=services, run_id=run_id, telemetry=telemetry)
        if handle_signals:
            install_signal_handlers(run)
        return run.start()

    def run(self, *, handle_signals: bool = True, **options: Any) -> RunResult:
        """Run until the sources end (or SIGINT/SIGTERM stops it gracefully) and return the result; takes
        the arguments of :meth:`start`."""
        run = self.prepare(**options)
        restore = install_signal_handlers(run) if handle_signals else (lambda: None)
        try:
            if not isinstance(run, PipelineRun):
                run.run_here()  # the actor system forks from this thread, as few other threads as can be
            else:
                run.start()
                while not run.join(0.2):
                    pass
        finally:
            restore()
        assert run.result is not None
        return run.result

    def prepare(self, *, state_dir: str | Path | None = None, parameters: dict[str, Any] | None = None,
                supervised: bool | None = None, metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                admin_port: int | None = None, checkpoints: CheckpointStore | StoreOpener | bool = True,
                services: dict[str, Any] | None = None, run_id: str | None = None,
                telemetry: Telemetry | None = None) -> Run:
        """The run :meth:`start` would start, not started yet (call its ``start()``)."""
        if supervised is None:
            supervised = self.wants_supervision()
        if not supervised:
            return self.create_run(state_dir=state_dir, parameters=parameters, checkpoints=checkpoints,
                                   services=services, run_id=run_id, metrics_port=metrics_port,
                                   metrics_host=metrics_host, telemetry=telemetry)
        from conduix.checkpoint import StoreOpener
        from conduix.errors import ConfigError
        from conduix.runtime.supervised import SupervisedRun

        opener = checkpoints if isinstance(checkpoints, StoreOpener) else None
        if services or telemetry is not None or (checkpoints is not True and opener is None):
            raise ConfigError("services, a shared telemetry and checkpoint stores of your own need an in-process "
                              "run: supervised workers open their own (a StoreOpener tells them how)",
                              hint="pass supervised=False")
        return SupervisedRun(self.spec, state_dir=Path(state_dir) if state_dir is not None else default_state_dir(),
                             parameters=parameters, admin_port=admin_port, run_id=run_id,
                             metrics_port=metrics_port, metrics_host=metrics_host,
                             components=self._component_refs(), store=opener)

    def _component_refs(self) -> dict[str, str]:
        """``module:attribute`` of each component given in Python, for the worker processes to import."""
        refs = {}
        for type_name, component in self.components.items():
            if isinstance(component, str):
                refs[type_name] = component
                continue
            ref = f"{component.__module__}:{component.__qualname__}"
            try:
                found = import_target(ref)
            except PluginError:
                found = None
            if found is not component:
                raise ConfigError(f"component {type_name!r} ({ref}) cannot be found by the worker processes of a "
                                  "supervised run", hint="define it at the top level of a module (not inside a "
                                  "function), or run in-process (supervised=False)")
            refs[type_name] = ref
        return refs


def with_components(host: PluginHost | None, components: Mapping[str, ComponentLike] | None) -> PluginHost:
    """``host`` (default: the installed plugins) with ``components`` added to a copy of its registry."""
    host = host or get_plugin_host()
    if not components:
        return host
    registry = host.registry.copy()
    for type_name, component in components.items():
        registry.add(type_name, component)
    return dataclasses.replace(host, registry=registry)


def install_signal_handlers(run: RunHandle) -> Callable[[], None]:
    """SIGINT/SIGTERM stop ``run`` gracefully; a second one aborts. Returns a function restoring them."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: Any) -> None:
        if run.stopping:
            run.abort("was interrupted twice")
        else:
            run.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    return restore
