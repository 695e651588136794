"""Write conduix-core/src/conduix/remap/_parser_tables.py from the remap grammar.

Usage: ``python tools/remap_parser_tables.py``.

Run it after changing ``conduix.remap.parser.GRAMMAR`` (or lark's version); a test fails while the tables are stale
(the parser then still works: it builds them from the grammar at every start, slowly).
"""

from __future__ import annotations

from pathlib import Path

from conduix.remap import parser

TARGET = Path(__file__).resolve().parents[1] / "conduix-core/src/conduix/remap/_parser_tables.py"

if __name__ == "__main__":
    TARGET.write_text(parser.tables_source(), encoding="utf-8")
    print(f"wrote {TARGET}")
