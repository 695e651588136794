"""Hook specs carry their reference in their docstrings (every argument as ``:param``), and the "Hooks"
section of docs/plugins.md is generated from them."""

from __future__ import annotations

import inspect

import pytest

from .hook_docs import BLOCK, PAGE, hooks, parse, render


@pytest.mark.parametrize(("name", "func"), hooks(), ids=[name for name, _ in hooks()])
def test_every_hook_documents_what_it_is_for_and_every_argument(name, func):
    body, params = parse(func.__doc__ or "")
    assert body and len(body.splitlines()[0]) > 10, f"{name} has no summary line"
    arguments = list(inspect.signature(func).parameters)
    assert [p for p in arguments if not params.get(p)] == [], f"{name}: arguments without a :param"
    assert set(params) <= set(arguments), f"{name}: :param for arguments it does not take"


def test_the_hooks_section_of_docs_plugins_md_is_generated_from_the_docstrings():
    text = PAGE.read_text()
    assert BLOCK.search(text), "docs/plugins.md lost its <!-- hooks --> markers"
    assert render(text) == text, "docs/plugins.md is stale: run python -m tests.docs.hook_docs"
    assert len(hooks()) >= 4


def test_the_generator_says_when_an_argument_is_not_documented():
    def conduix_example(pipeline: str, extra: int) -> None:
        """An example hook.

        :param pipeline: The pipeline's name.
        """

    body, params = parse(conduix_example.__doc__)
    assert body == "An example hook." and params == {"pipeline": "The pipeline's name."}
