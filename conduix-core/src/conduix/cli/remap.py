"""``conduix remap``: run a remap program over JSON lines, or try programs in a REPL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, Any

import click
import orjson

from conduix.errors import RemapAbort, RemapCompileError, RemapError
from conduix.remap import Program, compile, function_names
from conduix.remap.values import export

__all__ = ["command"]


def _events(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(line number, event or None, problem)`` for every non-blank line."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, None, f"invalid JSON: {exc}"
            continue
        if not isinstance(event, dict):
            yield number, None, "each line must be a JSON object"
            continue
        yield number, event, None


def _dumps(value: Any) -> str:
    return orjson.dumps(export(value)).decode()


def _run_file(program: Program, stream: IO[str], name: str) -> int:
    failed = 0
    for number, event, problem in _events(stream):
        if event is None:
            failed += 1
            click.echo(f"{name}:{number}: {problem}", err=True)
            continue
        try:
            result = program.run(event)
        except RemapAbort as exc:
            click.echo(f"{name}:{number}: dropped: {exc}", err=True)
            continue
        except RemapError as exc:
            failed += 1
            click.echo(f"{name}:{number}: {exc}", err=True)
            continue
        click.echo(_dumps(result))
    return failed


def _balanced(text: str) -> bool:
    depth = 0
    quote = False
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return depth <= 0 and not quote


_REPL_HELP = """\
Type remap expressions; the event persists between lines, and so do variables.
  :event   show the current event     :reset   start again from the first event
  :functions [text]  list the functions (those whose name contains text)
  :help [function]   this text, or a function's signature, summary and example
  :quit    leave (or Ctrl-D)"""


def _functions(text: str) -> str:
    """The functions whose name contains ``text``, by name, in columns."""
    import shutil

    names = [name for name in function_names() if text in name]
    if not names:
        return f"no function name contains {text!r}"
    width = max(len(n) for n in names) + 2
    columns = max(1, shutil.get_terminal_size((100, 20)).columns // width)
    rows = [names[i:i + columns] for i in range(0, len(names), columns)]
    return "\n".join("".join(n.ljust(width) for n in row).rstrip() for row in rows) + f"\n({len(names)} functions)"


def _describe(name: str) -> str:
    from conduix.remap.functions import function_table, signature

    spec = function_table().get(name)
    if spec is None:
        return f"no function {name!r}; :functions lists them"
    fallible = "fallible: call it with !, ?? or an error assignment" if spec.fallible else ""
    return "\n".join(line for line in (signature(spec), spec.summary, fallible,
                                        f"example: {spec.example}" if spec.example else "") if line)


def _relative(exc: RemapError, offset: int, line: str) -> str:
    """The error with its position counted from the line just typed (the session replays history)."""
    if exc.line is None or exc.line <= offset:
        return str(exc)
    if isinstance(exc, RemapCompileError):
        return str(RemapCompileError(exc.message, line=exc.line - offset, column=exc.column, source=line,
                                     hint=exc.hint))
    return str(RemapError(exc.message, line=exc.line - offset, column=exc.column))


def _repl(initial: dict[str, Any]) -> None:
    try:
        import readline  # noqa: F401 - line editing and history for input(), where available
    except ImportError:  # pragma: no cover - Windows
        pass
    history: list[str] = []
    click.echo("conduix remap REPL. " + _REPL_HELP.splitlines()[0], err=True)
    click.echo("Type :help for commands.", err=True)
    while True:
        try:
            line = input("$ ")
            while not _balanced(line):
                line += "\n" + input("… ")
        except EOFError:
            click.echo("", err=True)
            return
        command = line.strip()
        if not command:
            continue
        if command in (":quit", ":q", "exit", "quit"):
            return
        if command == ":help":
            click.echo(_REPL_HELP)
            continue
        if command.startswith(":help "):
            click.echo(_describe(command[6:].strip()))
            continue
        if command == ":functions" or command.startswith(":functions "):
            click.echo(_functions(command[len(":functions"):].strip()))
            continue
        if command == ":reset":
            history.clear()
            click.echo(_dumps(initial))
            continue
        source = "\n".join([*history, line]) if command != ":event" else "\n".join([*history, "."])
        try:
            value, _event = compile(source).evaluate(orjson.loads(orjson.dumps(initial)))
        except RemapAbort as exc:
            click.echo(f"aborted: {exc}", err=True)
            continue
        except RemapError as exc:  # includes compile errors, with their caret
            click.echo(f"error: {_relative(exc, len(history), line)}", err=True)
            continue
        if command != ":event":
            history.append(line)
        click.echo(_dumps(value))


@click.command("remap")
@click.argument("program_file", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("-i", "--input", "input_path", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              default="-", show_default="stdin", help="Events as JSON lines (one object per line).")
@click.option("--repl", is_flag=True, help="Try expressions interactively (the first input event, or {}).")
@click.option("-e", "--expression", help="Program text instead of PROGRAM_FILE.")
def command(program_file: str | None, input_path: str, repl: bool, expression: str | None) -> None:
    """Run a remap program over JSON lines and print each resulting event as JSON.

    Events that fail are reported on stderr with their line number and
    skipped; the exit status is 1 when any did. Events that hit `abort` are
    dropped (reported on stderr).
    """
    if repl:
        initial: dict[str, Any] = {}
        if input_path != "-":
            with open(input_path, encoding="utf-8") as handle:
                for _number, event, _problem in _events(handle):
                    if event is not None:
                        initial = event
                        break
        _repl(initial)
        return
    if expression is not None and program_file is not None:
        raise click.UsageError("give either PROGRAM_FILE or --expression, not both")
    if expression is None:
        if program_file is None:
            raise click.UsageError("missing PROGRAM_FILE (or use --expression, or --repl)")
        with open(program_file, encoding="utf-8") as handle:
            source = handle.read()
    else:
        source = expression
    program = compile(source)  # a RemapCompileError is reported by the CLI layer (exit 2)
    for warning in program.warnings:
        click.echo(f"warning: {warning}", err=True)
    if input_path == "-":
        failed = _run_file(program, sys.stdin, "stdin")
    else:
        with open(input_path, encoding="utf-8") as handle:
            failed = _run_file(program, handle, input_path)
    if failed:
        sys.exit(1)
