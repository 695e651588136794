"""Pipelines from a directory of YAML files (``control serve --pipelines-dir``): a Kubernetes ConfigMap,
a compose volume or /etc/conduix/pipelines on a server.

At start every ``*.yaml`` / ``*.yml`` file is validated and stored as its pipeline's new version when its text
changed (the same as ``conduix pipelines apply FILE``); a pipeline's desired state (running or stopped) and
its other versions are left alone. One invalid file stops the start, with every problem listed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from conduix.config.yamlsource import safe_load
from conduix.errors import ConfigError
from conduix_control.db import Database
from conduix_control.errors import ValidationFailedError
from conduix_control.service.pipelines import apply_pipeline, validate_yaml

__all__ = ["MAX_FILE_BYTES", "apply_pipeline_files", "pipeline_files"]

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024  #: the same order as a pipeline saved through the API


def pipeline_files(directory: Path) -> list[Path]:
    """The pipeline files of ``directory``, by name; hidden entries (a ConfigMap's ``..data``) are skipped."""
    if not directory.is_dir():
        raise ConfigError(f"pipelines directory {str(directory)!r} does not exist or is not a directory",
                          hint="create it, or unset --pipelines-dir / CONDUIX_CONTROL_PIPELINES_DIR")
    return sorted(p for p in directory.iterdir()
                  if not p.name.startswith(".") and p.suffix in (".yaml", ".yml") and p.is_file())


def _name(path: Path, text: str) -> str:
    try:
        data = safe_load(text)
    except ConfigError:
        data = None  # validation reports it with line and column
    named = data.get("name") if isinstance(data, dict) else None
    return named if isinstance(named, str) and named else path.stem


def apply_pipeline_files(db: Database, directory: Path) -> dict[str, bool]:
    """Store each file of ``directory`` as its pipeline's new version; pipeline name -> whether it changed."""
    errors: list[ConfigError] = []
    loaded: list[tuple[Path, str, str]] = []
    for path in pipeline_files(directory):
        if path.stat().st_size > MAX_FILE_BYTES:
            errors.append(ConfigError(f"pipeline file is larger than {MAX_FILE_BYTES // 1024} KiB", file=str(path)))
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            errors.append(ConfigError(f"pipeline file is not UTF-8: {exc}", file=str(path)))
            continue
        loaded.append((path, _name(path, text), text))
    names: dict[str, Path] = {}
    for path, name, text in loaded:
        if name in names:
            errors.append(ConfigError(f"pipeline {name!r} is also defined by {names[name].name}", file=str(path),
                                      hint="give each pipeline one file"))
            continue
        names[name] = path
        try:
            validate_yaml(name, text)
        except ValidationFailedError as exc:
            errors += [ConfigError(e.message, path=e.path, line=e.line, column=e.column, file=str(path), hint=e.hint)
                       for e in exc.errors]
    if errors:  # nothing is stored unless every file is valid
        raise ConfigError.collect(errors)
    changed: dict[str, bool] = {}
    with db.session() as s:
        for path, name, text in loaded:
            _, changed[name] = apply_pipeline(s, name, text, comment=f"from {path.name}")
    for name, new in changed.items():
        logger.info("pipeline %s from %s: %s", name, directory, "new version" if new else "unchanged")
    return changed
