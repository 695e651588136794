"""Write conduix-core/src/conduix/remap/functions/_index.py: which module defines each remap function.

Usage: ``python tools/remap_function_index.py``.

Run it after adding, renaming or moving a remap function; a test fails while the index is stale (the
function table still finds every function then: it loads every module when a name is not in the index).
"""

from __future__ import annotations

from pathlib import Path

from conduix.remap import functions

TARGET = Path(__file__).resolve().parents[1] / "conduix-core/src/conduix/remap/functions/_index.py"

if __name__ == "__main__":
    TARGET.write_text(functions.index_source(), encoding="utf-8")
    print(f"wrote {TARGET}")
