"""The stages built on remap: ``remap`` (transform), ``filter`` (keep matching) and ``router``.

They follow Vector's ``remap``, ``filter`` and ``route`` transforms: a remap
program that fails passes the original record through unchanged (or drops it
with ``drop_on_error``), ``abort`` drops the record, and with
``reroute_dropped`` dropped records go to the ``<id>.dropped`` output with the
reason, message and program position in their metadata.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from conduix.components import Access, Batch, ComponentConfig, Context, Emit, Stage
from conduix.config.checkmode import building, holds_placeholder, resolving
from conduix.errors import ConfigError, RemapAbort, RemapCompileError, RemapError
from conduix.remap import Condition, Program, compile, compile_condition

logger = logging.getLogger(__name__)

__all__ = ["FilterStage", "RemapStage", "RouterStage"]

UNMATCHED = "_unmatched"
DROPPED = "dropped"


class RemapConfig(ComponentConfig):
    source: str | None = Field(None, description="The remap program (VRL subset), e.g. '. = parse_json!(.message)'.")
    file: Path | None = Field(None, description="A file holding the program, instead of 'source'.")
    drop_on_error: bool = Field(False, description="Drop records the program fails on; otherwise they pass "
                                                   "through unchanged.")
    drop_on_abort: bool = Field(True, description="Drop records that reach 'abort'; otherwise they pass "
                                                  "through unchanged.")
    reroute_dropped: bool = Field(False, description="Send dropped records to the '<id>.dropped' output, with "
                                                     "metadata 'dropped': reason, message, line, column.")

    @model_validator(mode="after")
    def _one_program(self, info: ValidationInfo) -> RemapConfig:
        if (self.source is None) == (self.file is None):
            raise ValueError("give exactly one of 'source' (the program text) or 'file' (a path to it)")
        # validating a pipeline then reports program errors, with line, column and caret
        if self.source is not None:
            _check(compile, self.source, info=info)
        elif self.file is not None and building(info) and self.file.is_file():
            # a missing file is reported when the stage starts; check mode reads no file at all
            _check(compile, self.file.read_text(encoding="utf-8"), f"{self.file}: ")
        return self


def _check(compiler: Any, source: str, what: str = "", *, info: ValidationInfo | None = None) -> None:
    """Compile ``source`` to report its errors at validation; in check mode text holding a ``${VAR}``
    placeholder is compiled where the pipeline runs, once the placeholder is resolved."""
    if not resolving(info) and holds_placeholder(source):
        return
    try:
        compiler(source)
    except RemapCompileError as exc:
        raise ValueError(f"{what}{exc}") from None


def _load(config: RemapConfig) -> str:
    if config.source is not None:
        return config.source
    assert config.file is not None
    try:
        return config.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the remap program: {exc}", path="file",
                          hint="check the path (relative paths start at the working directory)") from None


class RemapStage(Stage[RemapConfig]):
    """Runs a remap program on every record."""

    Config = RemapConfig

    @classmethod
    def access(cls, config: RemapConfig) -> Access:
        return Access(reads=(str(config.file),)) if config.file is not None else Access()

    def __init__(self, config: RemapConfig, context: Context) -> None:
        super().__init__(config, context)
        self.program: Program = compile(_load(config))
        for warning in self.program.warnings:
            logger.warning("remap %s: %s", self.id, warning)
        # the original record is needed whenever a failed record is passed on or rerouted: copy what the program
        # may change of it
        self._keep = not config.drop_on_error or not config.drop_on_abort or config.reroute_dropped

    @classmethod
    def outputs_for(cls, config: RemapConfig) -> list[str]:
        return [DROPPED] if config.reroute_dropped else []

    def process(self, batch: Batch, emit: Emit) -> None:
        config = self.config
        uses_meta = self.program.uses_metadata
        # metadata per record only for a program that reads or writes it; else it stays as the source kept it
        source_meta = batch.meta if uses_meta else None
        if source_meta is None and uses_meta:
            source_meta = [{} for _ in batch.records]
        events, failures = self.program.run_batch(batch.records, source_meta, keep_input=self._keep)
        kept: list[int] | None = None  # when records were dropped: the indices of those that go on
        dropped: list[dict[str, Any]] = []
        dropped_meta: list[dict[str, Any]] = []
        if failures:
            records = batch.records
            gone: set[int] = set()  # records dropped: their metadata leaves with them
            errors = 0
            first_error: RemapError | None = None
            for index, problem in failures:
                if isinstance(problem, RemapAbort):
                    drop, reason = config.drop_on_abort, "abort"
                else:
                    drop, reason = config.drop_on_error, "error"
                    errors += 1
                    if errors == 1:
                        first_error = problem
                        self.context.logger.warning("remap %r: %s (record %d of the batch; further errors in "
                                                    "this batch are counted, not logged)", self.id, problem, index)
                if not drop:
                    events[index] = records[index]  # passed on as it came
                    continue
                gone.add(index)
                if config.reroute_dropped:
                    dropped.append(records[index])
                    info = {"reason": reason, "message": str(problem), "line": problem.line,
                            "column": problem.column, "component_id": self.id, "component_type": "remap"}
                    record_meta = source_meta[index] if source_meta is not None else batch.meta_at(index)
                    dropped_meta.append({**record_meta, "dropped": info})
            if errors > 1:
                self.context.logger.warning("remap %r: %d records of the batch failed", self.id, errors)
            if first_error is not None:
                self.context.count_errors(first_error, errors)
            if gone:
                kept = [i for i in range(len(records)) if i not in gone]
                events = [events[i] for i in kept]
        out: list[dict[str, Any]] = events  # type: ignore[assignment]  # no None left in it
        if out:
            if source_meta is not None:
                emit(batch.derive(out, source_meta if kept is None else [source_meta[i] for i in kept]))
            else:
                emit(batch.with_records(out, kept))
        if dropped:
            emit(batch.derive(dropped, dropped_meta), DROPPED)


class FilterConfig(ComponentConfig):
    condition: str = Field(..., description="A remap expression returning a boolean; records where it is not "
                                            "true are dropped (and acknowledged).")

    @model_validator(mode="after")
    def _compiles(self, info: ValidationInfo) -> FilterConfig:
        _check(compile_condition, self.condition, info=info)
        return self


class FilterStage(Stage[FilterConfig]):
    """Keeps the records for which a remap condition is true."""

    Config = FilterConfig

    def __init__(self, config: FilterConfig, context: Context) -> None:
        super().__init__(config, context)
        self.condition: Condition = compile_condition(config.condition)

    def process(self, batch: Batch, emit: Emit) -> None:
        keep = _matching(self, self.condition, batch)
        if len(keep) == len(batch.records):
            emit(batch)
        elif keep:
            emit(batch.select(keep))


def _matching(stage: Stage[Any], condition: Condition, batch: Batch,
              among: list[int] | None = None) -> list[int]:
    """Indices of the records (of ``among``, default all) the condition holds for.

    A condition that fails for a record counts as false (logged once per batch, counted as an error).
    """
    meta = batch.meta if condition.uses_metadata else None
    keep, failed, first = condition.select(batch.records, meta, among)
    if first is not None:
        stage.context.logger.warning("%s %r: condition failed, treated as false: %s",
                                     stage.__class__.__name__, stage.id, first)
        stage.context.count_errors(first, failed)
    return keep


class RouterConfig(ComponentConfig):
    mode: Literal["fan_out", "condition", "filter"] = Field(
        "condition", description="fan_out: every route gets every record; condition: the first matching route; "
                                 "filter: every matching route. Unmatched records go to '<id>._unmatched'. "
                                 "Default: fan_out when 'routes' is a list of names, else condition.")
    routes: dict[str, str | None] | list[str] = Field(
        ..., min_length=1, description="Route name -> remap condition (a list of names for fan_out). Consume a "
                                       "route as '<id>.<name>'.")

    @model_validator(mode="after")
    def _conditions_fit_mode(self, info: ValidationInfo) -> RouterConfig:
        routes = self.routes
        if isinstance(routes, list) and "mode" not in self.model_fields_set:
            self.mode = "fan_out"
        if isinstance(routes, list):
            if self.mode != "fan_out":
                raise ValueError(f"mode {self.mode!r} needs a condition per route: routes: {{name: condition}}")
            return self
        for name, condition in routes.items():
            if name == UNMATCHED:
                raise ValueError(f"{UNMATCHED!r} is the router's own output for records no route matched")
            if self.mode == "fan_out" and condition:
                raise ValueError(f"route {name!r} has a condition, but fan_out sends every record everywhere; "
                                 "use mode: condition or mode: filter")
            if self.mode != "fan_out" and not condition:
                raise ValueError(f"route {name!r} needs a condition in mode {self.mode!r}")
            if condition:
                _check(compile_condition, condition, f"route {name!r}: ", info=info)
        return self

    def route_names(self) -> list[str]:
        return list(self.routes)


class RouterStage(Stage[RouterConfig]):
    """Sends records to named outputs by remap conditions (or to all of them, ``fan_out``)."""

    Config = RouterConfig

    def __init__(self, config: RouterConfig, context: Context) -> None:
        super().__init__(config, context)
        self.conditions: list[tuple[str, Condition]] = []
        if config.mode != "fan_out" and isinstance(config.routes, dict):
            for name, source in config.routes.items():
                assert source is not None
                try:
                    self.conditions.append((name, compile_condition(source)))
                except RemapCompileError as exc:
                    raise RemapCompileError(f"route {name!r}: {exc.message}", line=exc.line, column=exc.column,
                                            source=source, hint=exc.hint) from None

    @classmethod
    def outputs_for(cls, config: RouterConfig) -> list[str]:
        names = config.route_names()
        return names if config.mode == "fan_out" else [*names, UNMATCHED]

    def process(self, batch: Batch, emit: Emit) -> None:
        if self.config.mode == "fan_out":
            names = self.config.route_names()
            emit(batch, names[0])
            for name in names[1:]:  # each route may change its records: each gets its own copy
                emit(batch.copy(), name)
            return
        first_only = self.config.mode == "condition"
        selected: dict[str, list[int]] = {}
        claimed = [False] * len(batch.records)
        remaining: list[int] | None = None  # condition mode: later routes only see what earlier ones left
        for name, condition in self.conditions:
            indices = _matching(self, condition, batch, remaining)
            for i in indices:
                claimed[i] = True
            selected[name] = indices
            if first_only:
                remaining = [i for i, hit in enumerate(claimed) if not hit]
        unmatched = [i for i, hit in enumerate(claimed) if not hit]
        used = False
        for name, indices in selected.items():
            if not indices:
                continue
            part = batch.select(indices)
            if used and not first_only:  # a record may be in several routes: copies after the first
                part = part.copy()
            emit(part, name)
            used = True
        if unmatched:
            emit(batch.select(unmatched), UNMATCHED)
