"""The public Python API the CLI is built on: load, validate, run pipelines."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conduix.config import PipelineSpec, load_pipeline, load_pipeline_text, pipeline_from_dict
from conduix.paths import default_state_dir
from conduix.plugins import PluginHost, get_plugin_host
from conduix.runtime import PipelineRun, RunResult

__all__ = ["Pipeline"]


class Pipeline:
    """A validated pipeline, ready to run any number of times.

    >>> p = Pipeline.from_yaml("examples/quickstart.yaml")
    >>> result = p.run()          # blocks until the sources end
    >>> run = p.start()           # background threads; run.stop(), run.join(), run.stats()
    """

    def __init__(self, spec: PipelineSpec, host: PluginHost | None = None) -> None:
        self.spec = spec
        self.host = host

    @classmethod
    def from_yaml(cls, path: str | Path, *, host: PluginHost | None = None) -> Pipeline:
        host = host or get_plugin_host()
        return cls(load_pipeline(path, registry=host.registry), host)

    @classmethod
    def from_text(cls, text: str, *, host: PluginHost | None = None, name: str = "pipeline") -> Pipeline:
        host = host or get_plugin_host()
        return cls(load_pipeline_text(text, registry=host.registry, default_name=name), host)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, host: PluginHost | None = None,
                  name: str = "pipeline") -> Pipeline:
        host = host or get_plugin_host()
        return cls(pipeline_from_dict(data, registry=host.registry, name=name), host)

    @property
    def name(self) -> str:
        return self.spec.name

    def create_run(self, *, state_dir: str | Path | None = None,
                   parameters: dict[str, Any] | None = None) -> PipelineRun:
        """A run, not started, with the checkpoint store from the pipeline's settings."""
        from conduix.checkpoint import open_store

        state = Path(state_dir) if state_dir is not None else default_state_dir()
        store = open_store(self.spec.settings.checkpoint.store, state)
        return PipelineRun(self.spec, state_dir=state, parameters=parameters,
                           hooks=self.host.manager if self.host else None, checkpoints=store)

    def start(self, *, state_dir: str | Path | None = None, parameters: dict[str, Any] | None = None,
              handle_signals: bool = False) -> PipelineRun:
        """Start in background threads and return the run (``stop()``, ``join()``, ``stats()``)."""
        run = self.create_run(state_dir=state_dir, parameters=parameters)
        if handle_signals:  # stays installed: for programs that run one pipeline and exit
            install_signal_handlers(run)
        return run.start()

    def run(self, *, state_dir: str | Path | None = None, parameters: dict[str, Any] | None = None,
            handle_signals: bool = True) -> RunResult:
        """Run until the sources end (or SIGINT/SIGTERM stops it gracefully); returns the result."""
        run = self.create_run(state_dir=state_dir, parameters=parameters)
        restore = install_signal_handlers(run) if handle_signals else (lambda: None)
        try:
            run.start()
            while not run.join(0.2):
                pass
        finally:
            restore()
        assert run.result is not None
        return run.result


def install_signal_handlers(run: PipelineRun) -> Callable[[], None]:
    """SIGINT/SIGTERM stop ``run`` gracefully; a second one aborts. Returns a function restoring them."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: Any) -> None:
        if run.control.stopping.is_set():
            run.abort("was interrupted twice")
        else:
            run.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    return restore
