"""Check mode: validate a pipeline without resolving it, for a server that validates other people's YAML.

``load_pipeline_text(text, resolve=False)`` checks structure, types, the DAG and remap syntax, but

- resolves no ``${VAR}``: a placeholder is checked for its syntax and stays as written; the type of the
  field holding it is checked where the pipeline runs (an agent resolves it from its own environment);
- reads no file (a remap ``file:`` is checked where the pipeline runs);
- imports nothing a user named (a ``python`` stage's module, its ``python_path``) and builds no
  component: named outputs come from :meth:`conduix.components.Stage.outputs_for`.

``build=False`` (with ``resolve`` True) resolves placeholders but still reads no file, imports nothing and
builds nothing: an agent checks a pipeline's resolved paths and hosts against its allow-list this way before
anything of it runs (:mod:`conduix.access`).

Component configs see the mode in their validators through :func:`resolving` and :func:`building`
(``model_validate(..., context=...)``), so a validator that would read a file or compile text holding a
placeholder can skip that part.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError, ValidationInfo

from conduix.config.model import validation_errors
from conduix.config.yamlsource import PLACEHOLDER, Located, Path
from conduix.errors import ConfigError

__all__ = ["BUILD", "RESOLVE", "building", "context", "holds_placeholder", "resolving", "validate_model"]

RESOLVE = "conduix.resolve"  #: the key of the validation context saying whether the config is resolved
BUILD = "conduix.build"  #: ... and whether files may be read and things imported (the pipeline is built)

#: pydantic error kinds that a placeholder cannot excuse: they are about keys, not values
_KEY_ERRORS = ("extra_forbidden", "missing")


def context(resolve: bool, build: bool | None = None) -> dict[str, Any]:
    """The pydantic validation context of a load in this mode."""
    return {RESOLVE: resolve, BUILD: resolve if build is None else build and resolve}


def _flag(info: ValidationInfo | None, key: str) -> bool:
    ctx = info.context if info is not None else None
    return not (isinstance(ctx, Mapping) and ctx.get(key) is False)


def resolving(info: ValidationInfo | None) -> bool:
    """In a validator: False when placeholders are left unresolved (check mode)."""
    return _flag(info, RESOLVE)


def building(info: ValidationInfo | None) -> bool:
    """In a validator: False when no file may be read nor anything imported (check mode, or ``build=False``)."""
    return _flag(info, BUILD)


def holds_placeholder(text: str) -> bool:
    """Whether ``text`` holds a ``${VAR}`` placeholder (left unresolved in check mode)."""
    return "${" in text and PLACEHOLDER.search(text) is not None


def _excused(doc: Located, loc: tuple[Any, ...], kind: str) -> Path | None:
    """The placeholder path that excuses an error at ``loc`` (a value holding ``${VAR}``), or None."""
    if kind in _KEY_ERRORS:
        return None
    for end in range(len(loc), 0, -1):
        if loc[:end] in doc.placeholders:
            return loc[:end]
    return None


def validate_model(model: type[BaseModel], data: Any, doc: Located, base: Path, *, resolve: bool,
                   build: bool | None = None, also_known: tuple[str, ...] = ()) -> tuple[Any, list[ConfigError]]:
    """``model.model_validate(data)`` with the mode's context; returns the model (or None) and the errors.

    In check mode, errors about values holding a placeholder are not errors: those values are dropped and
    the rest validated again (defaults stand in for them); if that still fails only because of them, the
    model is constructed from the values as written (good enough to know outputs and draw the graph).
    """
    try:
        return model.model_validate(data, context=context(resolve, build)), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        located = [((*base, *_loc(e)), e["type"]) for e in errors]
        excused = [_excused(doc, path, kind) for path, kind in located]
        if resolve or not all(excused) or not isinstance(data, dict):
            kept = [e for e, why in zip(errors, excused) if not why or resolve]
            return None, validation_errors(_Errors(kept, exc), doc, base, model, also_known=also_known)
    trimmed = copy.deepcopy(data)
    for path in {p for p in excused if p is not None}:
        _drop(trimmed, path[len(base):])
    try:
        return model.model_validate(trimmed, context=context(resolve, build)), []
    except ValidationError:
        return model.model_construct(**data), []


def _loc(error: Any) -> tuple[Any, ...]:
    return tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))


def _drop(data: Any, path: Path) -> None:
    for part in path[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(data, dict):
        data.pop(path[-1], None)


class _Errors:
    """A subset of a ValidationError's errors, shaped like one for :func:`validation_errors`."""

    def __init__(self, errors: list[Any], original: ValidationError) -> None:
        self._errors = errors
        self.title = original.title

    def errors(self, include_url: bool = False) -> list[Any]:
        return self._errors
