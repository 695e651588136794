"""Reading, writing and deleting paths (``.a.b[0]``) in remap values.

Reading a missing path gives ``null``. Writing creates the objects and arrays
on the way (arrays are padded with ``null``), replacing values of the wrong
kind, as VRL does.
"""

from __future__ import annotations

from typing import Any

from conduix.remap.nodes import Segment

__all__ = ["clone", "delete_path", "get_path", "path_exists", "set_path"]


def get_path(value: Any, segments: tuple[Segment, ...]) -> Any:
    for seg in segments:
        if type(seg) is str:
            if type(value) is not dict:
                return None
            value = value.get(seg)
        else:
            if type(value) is not list:
                return None
            try:
                value = value[seg]  # type: ignore[index]
            except IndexError:
                return None
    return value


def path_exists(value: Any, segments: tuple[Segment, ...]) -> bool:
    for seg in segments:
        if type(seg) is str:
            if type(value) is not dict or seg not in value:
                return False
            value = value[seg]
        else:
            if type(value) is not list:
                return False
            if not -len(value) <= seg < len(value):  # type: ignore[operator]
                return False
            value = value[seg]  # type: ignore[index]
    return True


def _empty_for(seg: Segment) -> Any:
    return [] if type(seg) is int else {}


def _store(container: Any, seg: Segment, value: Any) -> None:
    if type(seg) is str:
        container[seg] = value
        return
    index = int(seg)
    size = len(container)
    if index < 0:
        index += size
        if index < 0:
            # VRL pads at the front when a negative index points before the start.
            container[0:0] = [None] * (-index)
            index = 0
            size = len(container)
    if index >= size:
        container.extend([None] * (index - size + 1))
    container[index] = value


def _child(container: Any, seg: Segment) -> Any:
    if type(seg) is str:
        return container.get(seg)
    try:
        return container[seg]
    except IndexError:
        return None


def set_path(root: Any, segments: tuple[Segment, ...], value: Any) -> Any:
    """Store ``value`` at ``segments`` below ``root``; returns the (possibly new) root."""
    if not segments:
        return value
    if type(root) is not (list if type(segments[0]) is int else dict):
        root = _empty_for(segments[0])
    container = root
    last = len(segments) - 1
    for i in range(last):
        seg = segments[i]
        nxt = segments[i + 1]
        child = _child(container, seg)
        if type(child) is not (list if type(nxt) is int else dict):
            child = _empty_for(nxt)
            _store(container, seg, child)
        container = child
    _store(container, segments[last], value)
    return root


def delete_path(root: Any, segments: tuple[Segment, ...], compact: bool = False) -> Any:
    """Remove the value at ``segments``; returns it (``null`` when nothing was there)."""
    if not segments or not path_exists(root, segments):
        return None
    parents = [root]
    container = root
    for seg in segments[:-1]:
        container = container[seg]
        parents.append(container)
    last = segments[-1]
    removed = container.pop(last)
    if compact:
        for i in range(len(segments) - 1, 0, -1):
            holder = parents[i]
            if holder:
                break
            parents[i - 1].pop(segments[i - 1])
    return removed


def clone(value: Any) -> Any:
    """A deep copy of the containers of a value (scalars are immutable and shared)."""
    t = type(value)
    if t is dict:
        return {k: clone(v) if type(v) in (dict, list) else v for k, v in value.items()}
    if t is list:
        return [clone(v) if type(v) in (dict, list) else v for v in value]
    return value

