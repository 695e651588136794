"""Each connector page documents every option of its components, with the current defaults."""

from __future__ import annotations

import pytest

from .doc_tables import BLOCK, PAGES, ROOT, render


@pytest.mark.parametrize("page", PAGES)
def test_option_tables_match_the_config_models(page: str) -> None:
    text = (ROOT / "docs" / "connectors" / page).read_text()
    assert BLOCK.search(text), f"{page} has no generated option table"
    assert render(text) == text, f"docs/connectors/{page} is stale: run python -m tests.messaging.doc_tables"


@pytest.mark.parametrize("page", PAGES)
def test_page_states_the_delivery_guarantee_and_failures(page: str) -> None:
    text = (ROOT / "docs" / "connectors" / page).read_text()
    assert "Delivery guarantee" in text
    assert "| failure | what happens |" in text or "**Answers.**" in text
