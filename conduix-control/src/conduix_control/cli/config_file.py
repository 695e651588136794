"""``--config FILE`` (``$CONDUIX_CONFIG``) for ``conduix control serve`` and ``conduix agent start``.

One YAML file with a section per command (``control:``, ``agent:``) whose keys are the command's long
options (``redis-url`` or ``redis_url``). Its values become the options' defaults, so the precedence is:
command line, then ``CONDUIX_*`` environment variables, then the file, then the built-in defaults. This is
what a mounted ConfigMap or a file under /etc/conduix gives a container or a systemd unit.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import click

from conduix.errors import ConfigError

__all__ = ["MAX_BYTES", "config_option", "load_section"]

MAX_BYTES = 1024 * 1024  #: a settings file is small; a larger one is a mistake (or an attack on the loader)


def _options(command: click.Command) -> dict[str, click.Option]:
    """Long option name with underscores (``redis_url``) -> the option; ``config`` itself excluded."""
    found: dict[str, click.Option] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name == "config":
            continue
        for opt in param.opts:
            if opt.startswith("--"):
                found[opt[2:].replace("-", "_")] = param
    return found


def _value(option: click.Option, value: Any, where: str) -> Any:
    if option.multiple:  # e.g. agent labels: a mapping {zone: eu} or a list ["zone=eu"]
        if isinstance(value, dict):
            return [f"{k}={v}" for k, v in value.items()]
        if isinstance(value, list):
            return [str(v) for v in value]
        return [str(value)]
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{where} must be a single value, not a {type(value).__name__}")
    return value


def load_section(path: Path, section: str, command: click.Command) -> dict[str, Any]:
    """The ``section`` of the YAML file ``path`` as click defaults (parameter name -> value), checked."""
    from conduix.config.yamlsource import safe_load

    if path.stat().st_size > MAX_BYTES:
        raise ConfigError(f"{path}: a settings file is at most {MAX_BYTES // 1024} KiB")
    try:
        data = safe_load(path.read_text(encoding="utf-8")) or {}
    except (ConfigError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with sections 'control' and/or 'agent'")
    unknown_sections = sorted(set(data) - {"control", "agent"})
    if unknown_sections:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(map(repr, unknown_sections))}; "
                          "the sections are 'control' (control serve) and 'agent' (agent start)")
    body = data.get(section) or {}
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: section {section!r} must be a mapping of option: value")
    options = _options(command)
    defaults: dict[str, Any] = {}
    errors: list[ConfigError] = []
    for key, value in body.items():
        name = str(key).replace("-", "_")
        option = options.get(name)
        if option is None:
            close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"the options are: {', '.join(sorted(options))}"
            errors.append(ConfigError(f"unknown option {key!r} in section {section!r}", file=str(path),
                                      path=f"{section}.{key}", hint=hint))
            continue
        try:
            defaults[option.name or name] = _value(option, value, f"{section}.{key}")
        except ConfigError as exc:
            errors.append(ConfigError(exc.message, file=str(path), path=f"{section}.{key}"))
    if errors:
        raise ConfigError.collect(errors)
    return defaults


def config_option(section: str) -> Any:
    """The ``--config`` option of a command, reading ``section`` of the file into the command's defaults."""

    def callback(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
        if value is None:
            return
        ctx.default_map = {**(ctx.default_map or {}), **load_section(value, section, ctx.command)}

    return click.option(
        "--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), envvar="CONDUIX_CONFIG",
        default=None, is_eager=True, expose_value=False, callback=callback,
        help=f"YAML settings file; its '{section}' section sets this command's options (keys: the long "
             "option names). Command line and CONDUIX_* variables win over it [$CONDUIX_CONFIG].")
