"""The one error hierarchy of Conduix.

Every error a user can cause derives from :class:`ConduixError`. A message names
what failed, where (pipeline, component id, YAML path or line:column) and what
to do. The CLI prints a ``ConduixError`` as one line and exits with
:attr:`ConduixError.exit_code`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ComponentError",
    "ConduixError",
    "ConfigError",
    "ConnectorError",
    "PipelineError",
    "PluginError",
    "RemapAbort",
    "RemapCompileError",
    "RemapError",
    "RetryableError",
    "SupervisionError",
    "TemplateError",
]


class ConduixError(Exception):
    """Root of every error Conduix raises on purpose."""

    exit_code: int = 1


class ConfigError(ConduixError, ValueError):
    """A pipeline configuration or CLI usage is wrong; the message says where and how to fix it."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 column: int | None = None, file: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.file = file
        self.hint = hint
        self.errors: list[ConfigError] = [self]
        super().__init__(self.render())

    @classmethod
    def collect(cls, errors: list[ConfigError]) -> ConfigError:
        """One error standing for several; ``str()`` lists each on its own line."""
        if len(errors) == 1:
            return errors[0]
        group = cls(f"{len(errors)} problems:\n" + "\n".join("  " + str(e) for e in errors))
        group.errors = list(errors)
        return group

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
        if self.path:
            where = f"{where} at {self.path}" if where else f"at {self.path}"
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class PluginError(ConduixError):
    """A plugin could not be loaded, or two plugins claim the same component type."""

    exit_code = 2


class PipelineError(ConduixError):
    """A pipeline run failed."""


class ComponentError(PipelineError):
    """A component raised while processing; names the component and the record position."""

    def __init__(self, message: str, *, component: str | None = None, position: object = None) -> None:
        self.component = component
        self.position = position
        super().__init__(message)


class ConnectorError(ConduixError):
    """A connector failed to talk to its external system."""


class RetryableError(ConnectorError):
    """A transient failure (broker down, timeout, 429/5xx): the runtime retries with backoff.

    Raised from ``Source.read``, ``Stage.process`` or ``Sink.write``; the call is
    repeated with the same batch under the component's ``retry`` settings, while
    the batch keeps its place (backpressure does the rest). ``retry_after``
    (seconds, e.g. from a ``Retry-After`` header) replaces the backoff delay of
    that one retry; the connector caps it where the server's word should not be
    taken blindly.
    """

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = None if retry_after is None else max(0.0, float(retry_after))


class TemplateError(ConduixError, ValueError):
    """A record lacks a field a template needs (see :mod:`conduix.templates`), or the field is not a scalar;
    the record goes where the component's ``on_error`` says."""


class CheckpointError(ConduixError):
    """A checkpoint could not be read or written."""


class SupervisionError(ConduixError):
    """The actor system or a supervisor failed."""


class RemapError(ConduixError):
    """A remap program failed at run time; carries the program line and column."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        loc = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"{message}{loc}")


class RemapCompileError(RemapError, ConfigError):
    """A remap program does not compile (syntax error, unknown function, ...)."""

    exit_code = 2

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 source: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        self.hint = hint
        self.path = None
        self.errors = [self]
        self.file = None
        Exception.__init__(self, self.render())

    def render(self) -> str:
        text = self.message
        if self.line is not None:
            text = f"line {self.line}, column {self.column}: {text}"
            if self.source is not None:
                lines = self.source.splitlines()
                if 0 < self.line <= len(lines):
                    caret = " " * max((self.column or 1) - 1, 0) + "^"
                    text += f"\n  {lines[self.line - 1]}\n  {caret}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class RemapAbort(ConduixError):
    """A remap program executed ``abort``."""

    def __init__(self, message: str = "aborted", *, line: int | None = None, column: int | None = None) -> None:
        self.line = line
        self.column = column
        super().__init__(message)
