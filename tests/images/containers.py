"""Running the built image here, with no Docker daemon: ``buildah from`` + ``buildah run --isolation chroot``.

The OCI runtime cannot set rlimits or cgroups in this sandbox, so ``podman run`` fails; buildah's chroot
isolation runs the image's programs on its own root file system, with its user, environment and working
directory, on the host network (TESTING.md, "Containers and Helm").
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["Container", "image_config"]

#: an environment variable every command in a container gets (its id), so that what outlives buildah is found
MARK = "CONDUIX_TEST_CONTAINER"


def image_config(image: str) -> dict[str, Any]:
    """The image's config (User, Env, Entrypoint, Cmd, Healthcheck, ...), as ``podman image inspect`` gives it."""
    out = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    data = json.loads(out)[0]
    config: dict[str, Any] = dict(data.get("Config") or {})
    healthcheck = data.get("Healthcheck") or data.get("HealthCheck") or config.get("Healthcheck")
    if healthcheck:
        config["Healthcheck"] = healthcheck
    config["Size"] = data.get("Size")
    return config


class Container:
    """One working container of ``image``; :meth:`run` and :meth:`start` run commands in it."""

    def __init__(self, image: str, *, env: dict[str, str] | None = None,
                 volumes: dict[Path, str] | None = None) -> None:
        self.image = image
        self.env = env or {}
        self.volumes = volumes or {}
        self.config = image_config(image)
        self.id = subprocess.run(["buildah", "from", image], capture_output=True, text=True,
                                 check=True).stdout.strip()
        self.procs: list[subprocess.Popen[str]] = []

    def _cmd(self, argv: list[str], env: dict[str, str] | None) -> list[str]:
        cmd = ["buildah", "run", "--isolation", "chroot"]
        user = self.config.get("User")
        if user:
            cmd += ["--user", user]
        for key, value in {**self.env, **(env or {}), MARK: self.id}.items():
            cmd += ["--env", f"{key}={value}"]
        for host, inside in self.volumes.items():
            cmd += ["--volume", f"{host}:{inside}"]
        return [*cmd, self.id, "--", *argv]

    def entrypoint(self, *args: str) -> list[str]:
        """``args`` after the image's ENTRYPOINT, as ``docker run IMAGE ARGS`` and compose's command run them."""
        return [*(self.config.get("Entrypoint") or []), *args]

    def run(self, *argv: str, env: dict[str, str] | None = None, timeout: float = 120,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._cmd(list(argv), env), capture_output=True, text=True, timeout=timeout,
                              check=check)

    def start(self, *argv: str, env: dict[str, str] | None = None, log: Path) -> subprocess.Popen[str]:
        """Run ``argv`` in the background (output into ``log``); :meth:`remove` stops it."""
        handle = log.open("w")
        proc = subprocess.Popen(self._cmd(list(argv), env), stdout=handle, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def remove(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)  # buildah passes SIGTERM on; tini forwards it to conduix
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)
        for pid in self._leftovers():  # buildah gone, its chroot's processes can outlive it (reparented to init)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        subprocess.run(["buildah", "rm", self.id], capture_output=True)

    def _leftovers(self) -> list[int]:
        """Processes still running in this container: those whose environment carries its mark."""
        mark = f"{MARK}={self.id}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    environ = (entry / "environ").read_bytes()
                except OSError:
                    continue
                if mark in environ.split(b"\0"):
                    pids.append(int(entry.name))
        return pids
