"""What the compiler knows at a point of the program: the types of the event, the metadata and variables.

The state is copied into the branches of an ``if`` and joined after it, so a
path is known only as far as every branch agrees. Blocks and closures are
scopes, as in VRL: a variable first assigned inside one is gone after it,
while assignments to variables that existed before stay visible.
"""

from __future__ import annotations

from conduix.remap.typedefs import ANY, Type, object_type, union

__all__ = ["State"]


class State:
    """The static types at one point of a program."""

    __slots__ = ("event", "meta", "variables")

    def __init__(self, event: Type | None = None, meta: Type | None = None,
                 variables: dict[str, Type] | None = None) -> None:
        self.event = event if event is not None else object_type({}, ANY)
        self.meta = meta if meta is not None else object_type({}, ANY)
        self.variables: dict[str, Type] = dict(variables or {})

    def copy(self) -> State:
        return State(self.event, self.meta, self.variables)

    def join(self, other: State) -> State:
        """What is known after either this state or ``other`` (two branches, or a closure that may not run)."""
        variables = {name: union(t, other.variables[name]) for name, t in self.variables.items()
                     if name in other.variables}
        return State(union(self.event, other.event), union(self.meta, other.meta), variables)

    def leave_scope(self, outer: State) -> State:
        """This (inner) state after its scope ends: variables created inside it are gone."""
        variables = {name: self.variables[name] for name in outer.variables if name in self.variables}
        return State(self.event, self.meta, variables)

    def root(self, target: str) -> Type:
        return self.event if target == "event" else self.meta

    def set_root(self, target: str, value: Type) -> None:
        if target == "event":
            self.event = value
        else:
            self.meta = value
