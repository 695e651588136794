"""Checkpoints as JSON files, written atomically (temp file, fsync, rename, fsync dir)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from urllib.parse import quote, unquote

from conduix.checkpoint.base import Checkpoint, CheckpointStore, check_checkpoint
from conduix.errors import CheckpointError

__all__ = ["FileCheckpointStore"]

logger = logging.getLogger(__name__)

_SUFFIX = ".json"


def _check_id(pipeline_id: str) -> None:
    if not isinstance(pipeline_id, str) or not pipeline_id:
        raise CheckpointError(f"pipeline id must be a non-empty string, got {pipeline_id!r}")


class FileCheckpointStore(CheckpointStore):
    """One JSON file per pipeline in ``directory`` (created on first save).

    A crash at any moment leaves either the previous or the new checkpoint,
    never a torn file: the new one is written to a temp file in the same
    directory, fsynced, renamed over the old one, and the directory is fsynced.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path_for(self, pipeline_id: str) -> Path:
        """The file holding ``pipeline_id``'s checkpoint (the id is percent-encoded)."""
        _check_id(pipeline_id)
        name = quote(pipeline_id, safe="")
        if name.startswith("."):
            name = "%2E" + name[1:]
        return self.directory / (name + _SUFFIX)

    def load(self, pipeline_id: str) -> Checkpoint | None:
        path = self.path_for(pipeline_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(
                f"cannot read checkpoint file {path}: {exc}; check its permissions and the disk"
            ) from exc
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CheckpointError(
                f"checkpoint file {path} is corrupt ({exc}); fix it, or delete it with "
                f"`conduix checkpoint reset {pipeline_id} --yes` to restart from the sources' "
                "configured start positions"
            ) from exc
        return check_checkpoint(data, f"file {path}")

    def save(self, pipeline_id: str, checkpoint: Checkpoint) -> None:
        path = self.path_for(pipeline_id)
        check_checkpoint(checkpoint, f"for pipeline {pipeline_id!r}")
        payload = json.dumps(checkpoint, sort_keys=True, indent=2).encode()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoint in {self.directory}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            self._fsync_directory()
        except OSError as exc:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise CheckpointError(f"cannot write checkpoint file {path}: {exc}") from exc
        logger.debug("saved checkpoint of %s to %s", pipeline_id, path)

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def delete(self, pipeline_id: str) -> None:
        path = self.path_for(pipeline_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CheckpointError(f"cannot delete checkpoint file {path}: {exc}") from exc
        self._fsync_directory()

    def list(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(
            unquote(name[: -len(_SUFFIX)])
            for name in names
            if name.endswith(_SUFFIX) and not name.startswith(".")
        )

    def __repr__(self) -> str:
        return f"FileCheckpointStore({str(self.directory)!r})"
