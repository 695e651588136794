"""YAML loading that remembers where every key and value stood, and ``${VAR}`` interpolation."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from conduix.errors import ConfigError

__all__ = ["MAX_ALIAS_VALUES", "MAX_DEPTH", "MAX_YAML_BYTES", "PLACEHOLDER", "Located", "check_size", "format_path",
           "interpolate", "load_yaml", "safe_load"]

MAX_YAML_BYTES = 1024 * 1024
"""The largest YAML document read (a pipeline file, a pipeline sent to the control plane, ``parse_yaml``)."""
MAX_ALIAS_VALUES = 10_000
"""How many values YAML aliases (``*name``) may repeat in one document, in all: a "billion laughs" document
of a few hundred bytes would otherwise expand to gigabytes."""
MAX_DEPTH = 100
"""How deeply mappings and lists may nest in one document."""

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """``("sinks", "out", "inputs", 0)`` -> ``sinks.out.inputs[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_\-]+", part):
            text += f".{part}" if text else part
        else:
            text += f'."{part}"' if text else f'"{part}"'
    return text or "<top level>"


@dataclass
class Located:
    """A parsed YAML document plus the line/column of every value and key in it."""

    data: Any
    file: str | None = None
    values: dict[Path, tuple[int | None, int | None]] = field(default_factory=dict)
    keys: dict[Path, tuple[int | None, int | None]] = field(default_factory=dict)
    placeholders: set[Path] = field(default_factory=set)
    """Paths of values holding ``${VAR}`` left unresolved (check mode, see :mod:`conduix.config.checkmode`)."""
    written: dict[Path, str] = field(default_factory=dict)
    """Values resolved from the environment, as written (``${VAR}``): errors quote these, never the values,
    which may be secrets."""
    aliases: dict[Path, Path] = field(default_factory=dict)
    """Canonical path -> the path where the user wrote it, for files written in another shape
    (:mod:`conduix.config.shapes`): errors name the place in the file as written."""

    def original(self, path: Path) -> Path:
        """Where ``path`` (a path in the canonical shape) stands in the file as written."""
        for end in range(len(path), 0, -1):
            written = self.aliases.get(path[:end])
            if written is not None:
                return (*written, *path[end:])
        return path

    def where(self, path: Path, *, key: bool = False) -> tuple[int | None, int | None]:
        """The 1-based line and column of ``path``, or of its closest ancestor."""
        path = self.original(path)
        table = self.keys if key and path in self.keys else self.values
        probe = path
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return table.get((), (None, None))

    def error(self, message: str, path: Path, *, key: bool = False, hint: str | None = None) -> ConfigError:
        line, column = self.where(path, key=key)
        return ConfigError(message, path=format_path(self.original(path)), line=line, column=column,
                           file=self.file, hint=hint)


class _Loader(yaml.SafeLoader):
    pass


def check_size(size: int, file: str | None = None) -> None:
    """Refuse a YAML document of ``size`` bytes when it is over :data:`MAX_YAML_BYTES`."""
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"YAML document too large: {size} bytes, the limit is {MAX_YAML_BYTES}", file=file,
                          hint="split the pipeline, or move large data (enrich tables, remap programs) into files")


def _node_error(message: str, node: yaml.Node, file: str | None, hint: str) -> ConfigError:
    return ConfigError(message, file=file, line=node.start_mark.line + 1, column=node.start_mark.column + 1,
                       hint=hint)


def _check_expansion(root: yaml.Node, file: str | None) -> None:
    """Refuse documents whose aliases repeat more than MAX_ALIAS_VALUES values, or that nest too deeply.

    PyYAML composes an alias as the very node it names, so a value met a second time is a repetition; a node
    met again inside itself is a recursive alias. The walk stops at the limit, so it is cheap on any input.
    """
    seen: set[int] = set()
    repeated = 0
    stack: list[tuple[yaml.Node, tuple[int, ...], int]] = [(root, (), 0)]  # node, ids of its ancestors, depth
    while stack:
        node, ancestors, depth = stack.pop()
        if id(node) in ancestors:
            raise _node_error("recursive YAML alias (a value that contains itself)", node, file,
                              "write the value out instead of an alias")
        if id(node) in seen:
            repeated += 1
            if repeated > MAX_ALIAS_VALUES:
                raise _node_error(f"YAML aliases repeat more than {MAX_ALIAS_VALUES} values", node, file,
                                  "write the values out, or use fewer aliases (*name)")
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise _node_error(f"YAML nests more than {MAX_DEPTH} levels deep", node, file, "flatten the document")
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            continue
        inner = (*ancestors, id(node))
        stack.extend((child, inner, depth + 1) for child in reversed(children))


def _single_node(loader: _Loader, text: str, file: str | None) -> yaml.Node | None:
    check_size(len(text.encode("utf-8", "surrogatepass")), file)
    try:
        node = loader.get_single_node()
    except RecursionError:
        raise ConfigError(f"YAML nests more than {MAX_DEPTH} levels deep", file=file,
                          hint="flatten the document") from None
    if node is not None:
        _check_expansion(node, file)
    return node


@contextlib.contextmanager
def _parsed(text: str, file: str | None) -> Iterator[tuple[_Loader, yaml.Node | None]]:
    """The loader and the document's node within the limits (size, aliases, depth); YAML errors raised while
    parsing it or building from it (in the block) become ConfigError; the loader is disposed of after."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters before anything is parsed
        raise ConfigError(f"invalid YAML: {exc}", file=file, hint="remove the control characters") from exc
    try:
        yield loader, _single_node(loader, text, file)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from exc
    finally:
        loader.dispose()


def safe_load(text: str, file: str | None = None) -> Any:
    """``yaml.safe_load`` within the limits of :func:`load_yaml` (size, aliases, depth); errors as ConfigError."""
    with _parsed(text, file) as (loader, node):
        return None if node is None else loader.construct_document(node)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str | None) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    return ConfigError(f"invalid YAML: {exc.problem or exc.context}", file=file,
                       line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
                       hint="check indentation and quoting")


def _compose(node: yaml.Node, path: Path, doc: Located) -> Any:
    doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError("YAML merge keys (<<) are not supported", file=doc.file,
                                  line=key_node.start_mark.line + 1, path=format_path(path),
                                  hint="write the keys out, or use ${VAR} interpolation")
            key = _Loader.construct_object(doc._loader, key_node, deep=True)  # type: ignore[attr-defined]
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key)
            child = (*path, key)
            if key in out:
                first = doc.keys.get(child, (None, None))[0]
                raise ConfigError(f"duplicate key {key!r} (first given on line {first})", file=doc.file,
                                  line=key_node.start_mark.line + 1, column=key_node.start_mark.column + 1,
                                  path=format_path(child), hint="remove one of them")
            doc.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _compose(value_node, child, doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_compose(item, (*path, i), doc) for i, item in enumerate(node.value)]
    return _Loader.construct_object(doc._loader, node, deep=True)  # type: ignore[attr-defined]


def load_yaml(text: str, file: str | None = None) -> Located:
    """Parse one YAML document, keeping positions; syntax errors become ConfigError.

    Documents over :data:`MAX_YAML_BYTES`, aliases repeating more than :data:`MAX_ALIAS_VALUES` values and
    nesting deeper than :data:`MAX_DEPTH` are refused before anything is built of them.
    """
    doc = Located(None, file)
    with _parsed(text, file) as (loader, node):
        doc._loader = loader  # type: ignore[attr-defined]
        try:
            doc.data = {} if node is None else _compose(node, (), doc)
        finally:
            del doc._loader  # type: ignore[attr-defined]
    return doc


_VAR = re.compile(r"\$\$|\$\{((?:params\.)?[A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
PLACEHOLDER = re.compile(r"(?<!\$)(?:\$\$)*\$\{(?:params\.)?[A-Za-z_][A-Za-z0-9_]*(?::?-[^}]*)?\}")
"""A ``${VAR}``, ``${VAR:-default}`` or ``${params.NAME}`` placeholder (not one escaped as ``$${``)."""


def _malformed(value: str) -> str | None:
    """What is wrong with a ``${`` in ``value`` that is not a placeholder, or None."""
    for match in re.finditer(r"\$\$|\$\{", value):
        if match.group(0) == "${" and _VAR.match(value, match.start()) is None:
            end = value.find("}", match.start())
            shown = value[match.start():end + 1] if 0 <= end < match.start() + 60 else value[match.start():][:40]
            return f"malformed placeholder {shown!r}"
    return None


def interpolate(doc: Located, env: Mapping[str, str] | None = None,
                params: Mapping[str, Any] | None = None, *, resolve: bool = True) -> None:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string value; ``$$`` is a literal ``$``.

    ``${params.NAME}`` is a run parameter (a child pipeline's parent record fields); with ``params``
    None (validating, not running) it is left as written. With ``resolve`` False (check mode) nothing is
    replaced: placeholders are checked for their syntax and their paths noted in ``doc.placeholders``.
    """
    environ = os.environ if env is None else env
    malformed: list[ConfigError] = []

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            problem = _malformed(value)
            if problem is not None:
                malformed.append(doc.error(problem, path, hint="write ${NAME} or ${NAME:-default} (letters, digits "
                                                               "and '_'), or $${ for a literal '${'"))
                return value
            if not resolve:
                if PLACEHOLDER.search(value):
                    doc.placeholders.add(path)
                return value

            def sub(match: re.Match[str]) -> str:
                if match.group(0) == "$$":
                    return "$"
                name, default = match.group(1), match.group(2)
                if name.startswith("params."):
                    if params is None:
                        return match.group(0)
                    key = name[len("params."):]
                    if key in params and params[key] is not None:
                        return str(params[key])
                    if default is not None:
                        return default
                    raise doc.error(f"run parameter {key!r} is not set", path,
                                    hint=f"known parameters: {', '.join(sorted(params)) or 'none'}; or give a "
                                         f"default: ${{params.{key}:-value}}")
                if name in environ and (environ[name] != "" or default is None):
                    return environ[name]
                if default is not None:
                    return default
                raise doc.error(f"environment variable {name} is not set", path,
                                hint=f"set {name}, or give a default: ${{{name}:-value}}")
            # values stay strings; the component's model converts "9092" to an int where it wants one
            resolved = _VAR.sub(sub, value)
            if PLACEHOLDER.search(value):
                doc.written[path] = value
            return resolved
        return value

    data = walk(doc.data, ())
    if malformed:
        raise ConfigError.collect(malformed)
    doc.data = data
