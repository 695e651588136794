"""Wire a run's metrics and traces: OpenTelemetry, the Prometheus/health endpoint, torn down with the run."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conduix.observability.telemetry import Telemetry
    from conduix.runtime.runner import PipelineRun

__all__ = ["observe"]


def observe(run: PipelineRun, *, port: int | None = None, host: str = "127.0.0.1",
            telemetry: Telemetry | None = None) -> str | None:
    """Attach telemetry to ``run`` (not started yet) when it is asked for, and serve it on ``port``.

    Telemetry is attached when ``telemetry`` is given (the caller's, shared by several runs), when a
    ``port`` is given, or when an OTLP endpoint is configured (``settings.telemetry.otlp_endpoint`` or
    ``OTEL_EXPORTER_OTLP_ENDPOINT``). What this function creates is shut down when the run ends, before
    ``run.join()`` returns. Returns the endpoint's URL, or None when nothing is served.
    """
    settings = run.spec.settings.telemetry
    owned = False
    if telemetry is None:
        if port is None and not (settings.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
            return None
        from conduix.observability.telemetry import Telemetry

        telemetry = Telemetry(settings, prometheus=port is not None)
        owned = True
    telemetry.attach(run)
    server = None
    if port is not None:
        from conduix.observability.server import ObservabilityServer

        server = ObservabilityServer(telemetry, host, port).start()

    def teardown() -> None:
        if server is not None:
            server.stop()
        if owned:
            telemetry.shutdown()

    run.on_done(teardown)
    return server.url if server is not None else None
