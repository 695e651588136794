"""Print the third-party requirements of the packages under a folder (their pyproject.toml files), for the
image's dependency layer: installed before the sources are copied, it stays cached while only code changes.

    python requirements.py /src conduix-control[mysql,postgresql] > requirements.txt

Arguments after the folder name packages whose extras to include. Requirements on the packages themselves
(conduix-*) are left out: they are installed from /src afterwards, with --no-deps.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib


def requirements(root: Path, extras: dict[str, set[str]]) -> list[str]:
    found: set[str] = set()
    local: set[str] = set()
    for path in sorted(root.glob("*/pyproject.toml")):
        project = tomllib.loads(path.read_text())["project"]
        local.add(project["name"])
        found.update(project.get("dependencies", []))
        for extra in extras.get(project["name"], set()):
            found.update(project["optional-dependencies"][extra])
    return sorted(r for r in found if re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0] not in local)


def main() -> None:
    extras: dict[str, set[str]] = {}
    for spec in sys.argv[2:]:
        name, _, rest = spec.partition("[")
        extras[name] = {e.strip() for e in rest.rstrip("]").split(",") if e.strip()}
    print("\n".join(requirements(Path(sys.argv[1]), extras)))


if __name__ == "__main__":
    main()
