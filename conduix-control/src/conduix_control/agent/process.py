"""The agent's handle on one worker process (one assignment), and its lease."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conduix.redaction import redact

__all__ = ["WorkerProcess", "worker_environment"]

logger = logging.getLogger(__name__)

#: the agent's own credentials and the control plane's secrets: never a pipeline's business
_PRIVATE = ("CONDUIX_CONTROL_TOKEN", "CONDUIX_CONTROL_ADMIN_PASSWORD", "CONDUIX_CONTROL_SECRET_KEY",
            "CONDUIX_CONTROL_OIDC_CLIENT_SECRET")


def worker_environment() -> dict[str, str]:
    """The agent's environment without its credentials: pipelines resolve ``${VAR}`` from the rest."""
    return {k: v for k, v in os.environ.items() if k not in _PRIVATE}


class WorkerProcess:
    """Starts ``python -m conduix_control.agent.worker`` for an assignment and follows its events.

    ``on_event(worker, event)`` is called from a reader thread for every event the worker prints,
    and once with ``{"event": "finished", ...}`` when it ends (synthesised from its exit code and
    stderr when it died without saying so).
    """

    def __init__(self, payload: dict[str, Any], *, state_dir: Path, store: str | None, lease_deadline: float,
                 on_event: Callable[[WorkerProcess, dict[str, Any]], None], key_prefix: str = "",
                 allow: dict[str, Any] | None = None) -> None:
        self.payload = payload
        self.assignment_id = int(payload["assignment_id"])
        self.run_id = int(payload["run_id"])
        self.token = int(payload["token"])
        self.lease_deadline = lease_deadline
        self.on_event = on_event
        self.stats: dict[str, Any] = {}
        self.metrics = ""  #: the run's metrics as Prometheus text, as of the worker's last stats
        self.finished: dict[str, Any] | None = None
        self.created_at = time.time()
        self.stopping = False
        self._stderr: deque[str] = deque(maxlen=30)
        self._stdin_lock = threading.Lock()
        run_dir = state_dir / "runs" / f"{payload['checkpoint_id']}-t{self.token}"
        run_dir.mkdir(parents=True, exist_ok=True)
        spec = {"yaml": payload["yaml"], "checkpoint_id": payload["checkpoint_id"], "token": self.token,
                "state_dir": str(run_dir), "store": store, "key_prefix": key_prefix, "lease_deadline": lease_deadline,
                "parameters": payload.get("parameters"), "children": payload.get("children"), "allow": allow}
        self.proc = subprocess.Popen([sys.executable, "-m", "conduix_control.agent.worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, cwd=run_dir, env=worker_environment())
        self._send(spec)
        threading.Thread(target=self._read_stderr, daemon=True).start()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.finished is None

    @property
    def running(self) -> bool:
        """Alive and not asked to stop yet."""
        return self.finished is None and not self.stopping

    def _send(self, message: dict[str, Any]) -> bool:
        with self._stdin_lock:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps(message) + "\n")
                self.proc.stdin.flush()
                return True
            except (BrokenPipeError, ValueError, OSError):
                return False

    def renew(self, deadline: float) -> None:
        self.lease_deadline = max(self.lease_deadline, deadline)
        self._send({"renew": self.lease_deadline})

    def stop(self, timeout: float = 20.0, reason: str | None = None) -> None:
        """Ask the worker to stop (drain, final checkpoint); kill it if it does not within ``timeout``."""
        self.stopping = True
        self._send({"stop": True, "reason": reason})
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.error("worker %d for assignment %d did not stop in %.0f s: killing it",
                         self.pid, self.assignment_id, timeout)
            self.proc.kill()
            self.proc.wait()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # the worker masks its secrets; URL passwords are masked again here
            line = redact(line)
            self._stderr.append(line.rstrip())
            sys.stderr.write(line)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "stats":
                self.metrics = str(event.pop("metrics", None) or "")
                self.stats = {k: v for k, v in event.items() if k not in ("event", "components")}  # heartbeats
            if event.get("event") == "finished":
                self.finished = event
            self.on_event(self, event)
        code = self.proc.wait()
        if self.finished is None:
            tail = "; ".join(list(self._stderr)[-3:])
            self.finished = {"event": "finished", "status": "failed",
                             "error": f"worker exited with code {code} without reporting: {tail}"}
            self.on_event(self, self.finished)
        with self._stdin_lock:
            if self.proc.stdin is not None:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
