"""Where Conduix keeps its local state."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_state_dir"]


def default_state_dir() -> Path:
    """``$CONDUIX_STATE_DIR``, else ``.conduix`` in the working directory: checkpoints, buffers, run records."""
    return Path(os.environ.get("CONDUIX_STATE_DIR") or ".conduix")
