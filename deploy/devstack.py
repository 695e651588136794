"""What ``make env``, ``make infra-up`` / ``infra-down`` and ``make dev`` do (through nox); standard library only.

    python deploy/devstack.py env [--file .env]          # a .env with random passwords and agent token
    python deploy/devstack.py infra up|down [--dry-run]  # Redis + MySQL: this machine's, else docker-compose.yml's
    python deploy/devstack.py dev [--dry-run]            # control plane + one agent + the web UI's dev server

``dev`` runs the ``conduix`` of the Python that runs it (``nox -s dev`` installs the project for it) and stops
everything on Ctrl-C. ``--dry-run`` prints the commands and starts nothing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INFRA_SERVICES = ["redis", "mysql"]
#: what the machine may already run: (name, port) — Debian's redis-server and mariadb/mysql/postgresql
LOCAL_REDIS = ("Redis", 6379)
LOCAL_DATABASES = [("MySQL/MariaDB", 3306), ("PostgreSQL", 5432)]


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def compose_command() -> list[str] | None:
    """``docker compose`` when a Docker engine answers, else ``podman-compose`` or ``docker-compose``."""
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    for tool in ("podman-compose", "docker-compose"):
        if shutil.which(tool):
            return [tool]
    return None


def write_env(path: Path) -> bool:
    """Write ``path`` with random secrets unless it exists; whether it was written."""
    if path.exists():
        return False
    template = (ROOT / ".env.example").read_text()
    values = {"CONDUIX_ADMIN_PASSWORD": secrets.token_urlsafe(18),
              "CONDUIX_AGENT_1_TOKEN": "cdx_" + secrets.token_urlsafe(32),
              "CONDUIX_AGENT_2_TOKEN": "cdx_" + secrets.token_urlsafe(32),
              "MYSQL_PASSWORD": secrets.token_urlsafe(18), "MYSQL_ROOT_PASSWORD": secrets.token_urlsafe(18)}
    lines = [f"{line}{values[line[:-1]]}" if line.endswith("=") and line[:-1] in values else line
             for line in template.splitlines()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return True


def infra(action: str, dry_run: bool) -> int:
    local_db = next((name for name, port in LOCAL_DATABASES if listening(port)), None)
    if listening(LOCAL_REDIS[1]) and local_db:
        verb = "leaving alone" if action == "down" else "using"
        print(f"{verb} this machine's Redis on 127.0.0.1:{LOCAL_REDIS[1]} and {local_db}: nothing to "
              f"{'stop' if action == 'down' else 'start'}")
        return 0
    compose = compose_command()
    if compose is None:
        print("no Redis/database running here and no compose tool (docker compose, podman-compose, "
              "docker-compose): install one, or start redis-server and MySQL/MariaDB yourself", file=sys.stderr)
        return 1
    cmd = [*compose, "-f", str(ROOT / "docker-compose.yml")]
    cmd += ["up", "-d", *INFRA_SERVICES] if action == "up" else ["stop", *INFRA_SERVICES]
    print("+", " ".join(cmd), flush=True)
    if dry_run:
        return 0
    if action == "up" and write_env(ROOT / ".env"):
        print("wrote .env with random passwords (see .env.example)")
    return subprocess.run(cmd, cwd=ROOT).returncode


def dev(dry_run: bool, port: int) -> int:
    """Control plane (SQLite in .conduix/dev), one agent and Vite's dev server; Ctrl-C stops all three."""
    token = "cdx_" + secrets.token_urlsafe(32)
    state = ROOT / ".conduix" / "dev"
    redis = "redis://127.0.0.1:6379/0" if listening(6379) else None
    env = {**os.environ, "CONDUIX_STATE_DIR": str(state), "CONDUIX_CONTROL_AGENT_TOKENS": f"dev-agent={token}",
           "CONDUIX_CONTROL_TOKEN": token, "CONDUIX_LOG_LEVEL": os.environ.get("CONDUIX_LOG_LEVEL", "info"),
           "CONDUIX_CONTROL_URL": f"http://127.0.0.1:{port}"}
    if redis:
        env["CONDUIX_REDIS_URL"] = redis
    conduix = [sys.executable, "-m", "conduix"]
    commands = [
        ("control plane", [*conduix, "control", "serve", "--port", str(port)], ROOT),
        ("agent", [*conduix, "agent", "start", "--agent-id", "dev-agent"], ROOT),
        ("web UI (http://127.0.0.1:5173)", ["npm", "run", "dev"], ROOT / "conduix-control" / "ui"),
    ]
    for name, cmd, cwd in commands:
        print(f"+ ({name}) cd {cwd.relative_to(ROOT) or '.'} && {' '.join(cmd)}", flush=True)
    print(f"Redis: {redis or 'none (agents talk REST only)'}; admin password: {state}/control/admin-password")
    if dry_run:
        return 0
    if not (ROOT / "conduix-control" / "ui" / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT / "conduix-control" / "ui", check=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _, cmd, cwd in commands:
            procs.append(subprocess.Popen(cmd, cwd=cwd, env=env))
            if len(procs) == 1:  # the agent registers once the control plane answers
                deadline = time.monotonic() + 60
                while not listening(port) and time.monotonic() < deadline and procs[0].poll() is None:
                    time.sleep(0.2)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        return max(p.returncode or 0 for p in procs)
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    env_parser = sub.add_parser("env", help="write .env with random secrets (kept when it exists)")
    env_parser.add_argument("--file", type=Path, default=ROOT / ".env")
    infra_parser = sub.add_parser("infra", help="start/stop Redis and the database")
    infra_parser.add_argument("action", choices=["up", "down"])
    infra_parser.add_argument("--dry-run", action="store_true")
    dev_parser = sub.add_parser("dev", help="control plane + agent + web UI dev server")
    dev_parser.add_argument("--dry-run", action="store_true")
    dev_parser.add_argument("--port", type=int, default=8470)
    args = parser.parse_args(argv)
    if args.command == "env":
        written = write_env(args.file)
        print(f"{'wrote' if written else 'kept the existing'} {args.file}")
        return 0
    if args.command == "infra":
        return infra(args.action, args.dry_run)
    return dev(args.dry_run, args.port)


if __name__ == "__main__":
    sys.exit(main())
