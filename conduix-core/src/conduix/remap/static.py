"""What the compiler knows statically: the kinds of variables and of assigned paths.

Kinds are sets of kind names (``None``: unknown). The state is copied into the
branches of an ``if`` and joined after it, so a path is known only if every
branch agrees on what it may hold.
"""

from __future__ import annotations

from typing import Any

from conduix.remap.values import Kinds

__all__ = ["Key", "StaticState", "union_kinds"]

Key = tuple[Any, ...]


def union_kinds(a: Kinds, b: Kinds) -> Kinds:
    if a is None or b is None:
        return None
    return a | b


class StaticState:
    """What is statically known at a point of the program."""

    def __init__(self, variables: dict[str, Kinds] | None = None, paths: dict[Key, Kinds] | None = None):
        self.variables: dict[str, Kinds] = dict(variables or {})
        self.paths: dict[Key, Kinds] = dict(paths or {})

    def copy(self) -> StaticState:
        return StaticState(self.variables, self.paths)

    def join(self, other: StaticState) -> StaticState:
        """What is known after either this state or ``other`` (two branches, or a closure that may not run).

        Both start as copies of the state before the branch, so a path forgotten on one side (assigned
        a container below it, deleted) is missing there and becomes unknown.
        """
        out = StaticState()
        for name in set(self.variables) & set(other.variables):
            out.variables[name] = union_kinds(self.variables[name], other.variables[name])
        for name in set(self.variables) ^ set(other.variables):
            # defined on one branch only: known to exist, of unknown kind
            out.variables[name] = None
        for key in set(self.paths) & set(other.paths):
            out.paths[key] = union_kinds(self.paths[key], other.paths[key])
        return out

    def forget_below(self, key: Key) -> None:
        size = len(key)
        for other in [k for k in self.paths if len(k) >= size and k[:size] == key]:
            del self.paths[other]


