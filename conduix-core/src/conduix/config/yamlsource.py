"""YAML loading that remembers where every key and value stood, and ``${VAR}`` interpolation."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from conduix.errors import ConfigError

__all__ = ["Located", "format_path", "interpolate", "load_yaml"]

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

    def where(self, path: Path, *, key: bool = False) -> tuple[int | None, int | None]:
        """The 1-based line and column of ``path``, or of its closest ancestor."""
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
        return ConfigError(message, path=format_path(path), line=line, column=column,
                           file=self.file, hint=hint)


class _Loader(yaml.SafeLoader):
    pass


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
    """Parse one YAML document, keeping positions; syntax errors become ConfigError."""
    doc = Located(None, file)
    loader = _Loader(text)
    doc._loader = loader  # type: ignore[attr-defined]
    try:
        node = loader.get_single_node()
        doc.data = {} if node is None else _compose(node, (), doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", file=file,
                          line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
                          hint="check indentation and quoting") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from exc
    finally:
        loader.dispose()
        del doc._loader  # type: ignore[attr-defined]
    return doc


_VAR = re.compile(r"\$\$|\$\{((?:params\.)?[A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(doc: Located, env: Mapping[str, str] | None = None,
                params: Mapping[str, Any] | None = None) -> None:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string value; ``$$`` is a literal ``$``.

    ``${params.NAME}`` is a run parameter (a child pipeline's parent record fields); with ``params``
    None (validating, not running) it is left as written.
    """
    environ = os.environ if env is None else env

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
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
            return _VAR.sub(sub, value)
        return value

    doc.data = walk(doc.data, ())
