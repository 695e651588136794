"""Build the Conduix image with podman (no Docker daemon needed), optionally on locally made base images.

    python deploy/docker/build_image.py                     # FROM debian:bookworm-slim / node:20-bookworm-slim
    python deploy/docker/build_image.py --local-base        # no registry: bases made here (debootstrap)
    python deploy/docker/build_image.py --engine docker     # docker build instead of podman

``--local-base`` makes ``localhost/conduix-base:bookworm`` with Debian's debootstrap (the root file system is
kept in ``.cache/images/`` for the next build) and ``localhost/conduix-node:20`` from it plus this machine's
Node.js, then builds with ``--build-arg BASE=... NODE_IMAGE=...``. Used by ``nox -s build`` / ``nox -s images``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "images"
LOCAL_BASE = "localhost/conduix-base:bookworm"
LOCAL_NODE = "localhost/conduix-node:20"
PUBLIC_BASE = "debian:bookworm-slim"
PUBLIC_NODE = "node:20-bookworm-slim"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: a TLS-inspecting proxy's CA bundle, mounted into the build's RUN steps only (pip and npm trust it there)
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def run(*cmd: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def image_exists(engine: str, name: str) -> bool:
    return subprocess.run([engine, "image", "inspect", name], capture_output=True).returncode == 0


def local_base(engine: str) -> str:
    """``localhost/conduix-base:bookworm``: Debian 12 minbase (what debian:bookworm-slim is) via debootstrap."""
    if image_exists(engine, LOCAL_BASE):
        return LOCAL_BASE
    tarball = CACHE / "debian-bookworm-minbase.tar"
    if not tarball.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            rootfs = Path(tmp) / "rootfs"
            run("debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR)
            partial = tarball.with_suffix(".partial")
            run("tar", "-C", str(rootfs), "--exclude=./proc/*", "--exclude=./sys/*", "-cf", str(partial), ".")
            partial.rename(tarball)
    run(engine, "import", "--change", "CMD [\"bash\"]", str(tarball), LOCAL_BASE)
    return LOCAL_BASE


def local_node(engine: str) -> str:
    """``localhost/conduix-node:20``: the local base plus this machine's Node.js and npm (builds the web UI)."""
    if image_exists(engine, LOCAL_NODE):
        return LOCAL_NODE
    node = shutil.which("node")
    if node is None:
        sys.exit("--local-base needs Node.js 20.19+ on this machine (the web UI's build stage uses it)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    major, minor = (int(x) for x in version.lstrip("v").split(".")[:2])
    if (major, minor) < (20, 19):
        sys.exit(f"--local-base needs Node.js 20.19+ (found {version})")
    npm_root = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True, check=True).stdout.strip()
    base = local_base(engine)
    container = run("buildah", "from", base, capture_output=True).stdout.strip()
    try:
        run("buildah", "copy", container, os.path.realpath(node), "/usr/local/bin/node")
        run("buildah", "copy", container, f"{npm_root}/npm", "/usr/local/lib/node_modules/npm")
        run("buildah", "run", "--isolation", "chroot", container, "--", "ln", "-s",
            "../lib/node_modules/npm/bin/npm-cli.js", "/usr/local/bin/npm")
        run("buildah", "commit", "--format", "docker", container, LOCAL_NODE)
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True)
    return LOCAL_NODE


def build(tags: list[str], *, engine: str = "podman", base: str = PUBLIC_BASE, node: str = PUBLIC_NODE,
          version: str | None = None) -> float:
    """Build the image (named by every one of ``tags``) from the repository's Dockerfile; the build's seconds."""
    cmd = [engine, "build", "-f", str(ROOT / "Dockerfile"), *(a for tag in tags for a in ("-t", tag)),
           "--build-arg", f"BASE={base}", "--build-arg", f"NODE_IMAGE={node}"]
    if version:
        cmd += ["--build-arg", f"VERSION={version}"]
    if engine == "podman":
        # chroot isolation: the OCI runtime cannot set rlimits/cgroups in unprivileged sandboxes (docs/deployment.md);
        # docker format: keeps HEALTHCHECK (the OCI image format has no field for it)
        cmd += ["--isolation", "chroot", "--format", "docker"]
        if HOST_CA.is_file():
            cmd += ["-v", f"{HOST_CA}:/host-ca.crt:ro"]
    started = time.monotonic()
    run(*cmd, str(ROOT))
    return time.monotonic() - started


def default_engine() -> str:
    """$CONDUIX_CONTAINER_ENGINE, else podman where it is installed, else docker where it is."""
    chosen = os.environ.get("CONDUIX_CONTAINER_ENGINE")
    if chosen:
        return chosen
    return "docker" if shutil.which("podman") is None and shutil.which("docker") is not None else "podman"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", action="append", help="the image's name; repeat it for more than one "
                        "[localhost/conduix:latest]")
    parser.add_argument("--engine", default=default_engine(), choices=["podman", "docker"],
                        help="default: $CONDUIX_CONTAINER_ENGINE, else podman if installed, else docker")
    parser.add_argument("--local-base", action="store_true",
                        help="make the base images here (debootstrap + this machine's Node.js), no registry needed")
    parser.add_argument("--base", default=None, help=f"base image [{PUBLIC_BASE}]")
    parser.add_argument("--node", default=None, help=f"image that builds the web UI [{PUBLIC_NODE}]")
    args = parser.parse_args(argv)
    if args.local_base and args.engine != "podman":
        parser.error("--local-base works with podman/buildah only")
    base = args.base or (local_base(args.engine) if args.local_base else PUBLIC_BASE)
    node = args.node or (local_node(args.engine) if args.local_base else PUBLIC_NODE)
    tags = args.tag or ["localhost/conduix:latest"]
    seconds = build(tags, engine=args.engine, base=base, node=node)
    size = subprocess.run([args.engine, "image", "inspect", "--format", "{{.Size}}", tags[0]],
                          capture_output=True, text=True).stdout.strip()
    size_text = f", {int(size) / 1e6:.0f} MB" if size.isdigit() else ""
    print(f"built {', '.join(tags)} in {seconds:.0f} s{size_text}", flush=True)


if __name__ == "__main__":
    main()
