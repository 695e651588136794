"""The peers (Bytewax, Quix Streams): each from PyPI in a virtualenv of its own that a benchmark creates once,
under ``$CONDUIX_BENCH_PEERS`` (default ``~/.cache/conduix-bench/peers``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PEERS_DIR = Path(os.environ.get("CONDUIX_BENCH_PEERS", "~/.cache/conduix-bench/peers")).expanduser()


def peer_python(spec: str, *, extras: tuple[str, ...] = (), probe: str = "", who: str = "bench") -> str | None:
    """The interpreter of the virtualenv of ``spec`` (``bytewax==0.21.1``) with ``extras`` installed too, created
    on first use; ``probe`` (Python code) must run in it, else the extras are installed into it. None, with a
    note on stderr, when it cannot be had (no network, no wheel for this Python...)."""
    name = spec.split("[")[0].replace("==", "-")
    venv = PEERS_DIR / name
    python = venv / "bin" / "python"
    created = not python.exists()
    try:
        if created:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            _pip(python, spec, "orjson", *extras)
        elif probe and subprocess.run([str(python), "-c", probe], capture_output=True).returncode != 0:
            _pip(python, spec, *extras)
        if probe:
            subprocess.run([str(python), "-c", probe], check=True, capture_output=True)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or b""
        print(f"{who}: peer {spec} is left out: could not install it in {venv} ({exc}"
              f"{': ' + detail.decode(errors='replace').strip().splitlines()[-1] if detail.strip() else ''})",
              file=sys.stderr, flush=True)
        if created:  # half installed: the next run tries again
            shutil.rmtree(venv, ignore_errors=True)
        return None
    return str(python)


def _pip(python: Path, *packages: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True, capture_output=True,
                   timeout=900)
