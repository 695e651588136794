"""The actor system's lifecycle: a private Thespian admin on loopback, always shut down."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from datetime import timedelta
from types import TracebackType
from typing import Any

from thespian.actors import ActorExitRequest, ActorSystem
from thespian.system import multiprocCommon

from conduix.errors import SupervisionError
from conduix.supervision import _loopback
from conduix.supervision._process import children, group_members, process_start_time
from conduix.supervision.messages import ChildStarted, StartChild
from conduix.supervision.spec import SupervisorSpec
from conduix.supervision.supervisor import Supervisor
from conduix.supervision.tree import SupervisionTree

__all__ = ["DEFAULT_BASE", "SupervisionSystem", "default_log_defs", "free_port"]

logger = logging.getLogger(__name__)

#: Thespian base used by default: one process per actor, TCP between them. ``multiprocQueueBase``
#: deadlocked and stalled 20 s per message to a dead actor on the project's machines.
DEFAULT_BASE = "multiprocTCPBase"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _kill_children_since(before: set[int]) -> None:
    """Kill the children of this process started since ``before`` was taken, and what they forked.

    Thespian starts an admin in a child that makes itself a session leader,
    forks the admin proper and exits; an admin that did not answer in time
    would run on (or start answering later) with nobody to stop it. The child
    is killed first, so it forks nothing more, then its process group.
    """
    for pid in children(os.getpid()) - before:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def default_log_defs(level: str = "INFO") -> dict[str, Any]:
    """Logging config (``logging.config.dictConfig``) for the actor processes: ``conduix`` to stderr."""
    return {
        "version": 1,
        "formatters": {"plain": {"()": "conduix.redaction.RedactingFormatter",
                                 "fmt": "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "level": level}},
        "loggers": {"conduix": {"level": level, "handlers": ["stderr"], "propagate": False}},
        "root": {"level": "WARNING", "handlers": ["stderr"]},
    }


class SupervisionSystem:
    """A private Thespian actor system for one run; use it as a context manager.

    Every system gets its own admin port (a free one unless ``admin_port`` is
    given), so it never reuses an admin left over by another process, and its
    TCP endpoints listen on ``host`` only (loopback by default: Thespian takes
    unauthenticated pickles). Leaving the ``with`` block (also on an error)
    stops the trees gracefully, shuts the system down and kills any process of
    it that is left.
    """

    def __init__(
        self,
        admin_port: int | None = None,
        *,
        base: str = DEFAULT_BASE,
        host: str = "127.0.0.1",
        log_defs: dict[str, Any] | None = None,
        ask_timeout: float = 10.0,
        stop_timeout: float = 60.0,
        startup_timeout: float = 30.0,
    ) -> None:
        self.admin_port = admin_port
        self.base = base
        self.host = host
        self.log_defs = log_defs if log_defs is not None else default_log_defs()
        self.ask_timeout = ask_timeout
        self.stop_timeout = stop_timeout
        self.startup_timeout = startup_timeout
        self.trees: list[SupervisionTree] = []
        self._asys: ActorSystem | None = None
        self._process_groups: set[int] = set()
        self._saved_env: str | None = None

    @property
    def actor_system(self) -> ActorSystem:
        if self._asys is None:
            raise SupervisionError("the supervision system is not running; use it in a `with` block")
        return self._asys

    def __enter__(self) -> SupervisionSystem:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()

    def open(self) -> None:
        """Start the admin (and the logger process) of this system.

        A free port chosen here may be taken by another process before the
        admin binds it; then the admin is started once more on another one.
        """
        if self._asys is not None:
            return
        chosen = self.admin_port is None
        if self.admin_port is not None and not _port_is_free(self.host, self.admin_port):
            raise SupervisionError(
                f"admin port {self.admin_port} on {self.host} is in use (an actor system left running by "
                "another process?); Thespian would silently join it and run its code: choose another port, "
                "or leave admin_port unset to get a free one"
            )
        self._saved_env = os.environ.get("THESPIAN_BASE_IPADDR")
        if self.base.endswith("TCPBase"):
            os.environ["THESPIAN_BASE_IPADDR"] = self.host
            _loopback.install()
        multiprocCommon.MAX_ADMIN_STARTUP_DELAY = timedelta(seconds=self.startup_timeout)
        attempts = 2 if chosen else 1
        for attempt in range(1, attempts + 1):
            if chosen:
                self.admin_port = free_port(self.host)
            try:
                self._asys = self._start_admin()
                break
            except SupervisionError as exc:
                if attempt == attempts:
                    self._restore_env()
                    raise
                logger.warning("%s; trying another port", exc)
        logger.info("actor system %s up on %s, admin port %d", self.base, self.host, self.admin_port)

    def _start_admin(self) -> ActorSystem:
        """The actor system on ``admin_port``; a failed admin is killed, not left running."""
        capabilities = {"Admin Port": self.admin_port, "Process Startup Method": "fork"}
        before = children(os.getpid())
        try:
            asys = ActorSystem(self.base, capabilities, logDefs=self.log_defs, transientUnique=True)
        except Exception as exc:
            _kill_children_since(before)
            raise SupervisionError(
                f"cannot start the Thespian actor system ({self.base}, admin port {self.admin_port}, "
                f"waited up to {self.startup_timeout:g} s for its admin): {exc}"
            ) from exc
        if self.base.startswith("multiproc") and not children(os.getpid()) - before:
            # Thespian joins an admin it finds on the port instead of starting one; shutting this
            # system down would end the other run's, so it is left alone
            raise SupervisionError(
                f"admin port {self.admin_port} on {self.host} was taken by another actor system before this "
                "run's admin started"
            )
        return asys

    def start(self, spec: SupervisorSpec) -> SupervisionTree:
        """Start a supervision tree rooted at ``spec``; returns once the root supervisor runs."""
        if not isinstance(spec, SupervisorSpec):
            raise SupervisionError(f"the root of a supervision tree must be a SupervisorSpec, got {spec!r}")
        asys = self.actor_system
        root = asys.createActor(Supervisor)
        pid = os.getpid()
        owner = (pid, process_start_time(pid) or 0, os.getpgid(0))
        reply = asys.ask(root, StartChild(spec, owner=owner), self.ask_timeout)
        if not isinstance(reply, ChildStarted):
            asys.tell(root, ActorExitRequest())
            raise SupervisionError(
                f"supervisor {spec.id!r} did not start within {self.ask_timeout:g} s (got {reply!r})"
            )
        if reply.process_group != os.getpgid(0):
            self._process_groups.add(reply.process_group)
        tree = SupervisionTree(asys, root, spec, ask_timeout=self.ask_timeout, root_pid=reply.pid)
        self.trees.append(tree)
        return tree

    def shutdown(self) -> None:
        """Stop every tree gracefully, shut the actor system down, kill what is left of it."""
        asys, self._asys = self._asys, None
        if asys is None:
            return
        try:
            for tree in self.trees:
                try:
                    tree.stop(timeout=self.stop_timeout)
                except SupervisionError as exc:
                    logger.warning("stopping tree %s: %s", tree.spec.id, exc)
        finally:
            try:
                asys.shutdown()
            finally:
                self.trees.clear()
                self._kill_leftovers()
                self._restore_env()

    def _kill_leftovers(self, grace: float = 3.0) -> None:
        """Kill the processes of this system still alive after shutdown (its own process group)."""
        mine = os.getpgid(0)
        for group in self._process_groups - {mine}:
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and group_members(group):
                time.sleep(0.05)
            survivors = group_members(group)
            if survivors:
                logger.warning("actor processes %s survived the shutdown; killing them", survivors)
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            # Thespian daemonizes its admin by forking twice; the first child (leader of the
            # group) is ours and nobody reaps it.
            try:
                os.waitpid(group, os.WNOHANG)
            except ChildProcessError:
                pass
        self._process_groups.clear()

    def _restore_env(self) -> None:
        if self._saved_env is None:
            os.environ.pop("THESPIAN_BASE_IPADDR", None)
        else:
            os.environ["THESPIAN_BASE_IPADDR"] = self._saved_env

