"""The stages built on remap: ``remap`` (transform), ``filter`` (keep matching) and ``router``.

They follow Vector's ``remap``, ``filter`` and ``route`` transforms: a remap
program that fails passes the original record through unchanged (or drops it
with ``drop_on_error``), ``abort`` drops the record, and with
``reroute_dropped`` dropped records go to the ``<id>.dropped`` output with the
reason, message and program position in their metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from conduix.components import Batch, ComponentConfig, Context, Emit, Stage
from conduix.errors import ConfigError, RemapAbort, RemapCompileError, RemapError
from conduix.remap import Condition, Program, compile, compile_condition
from conduix.remap.paths import clone

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
    def _one_program(self) -> RemapConfig:
        if (self.source is None) == (self.file is None):
            raise ValueError("give exactly one of 'source' (the program text) or 'file' (a path to it)")
        # validating a pipeline then reports program errors, with line, column and caret
        if self.source is not None:
            _check(compile, self.source)
        elif self.file is not None and self.file.is_file():  # a missing file is reported when the stage starts
            _check(compile, self.file.read_text(encoding="utf-8"), f"{self.file}: ")
        return self


def _check(compiler: Any, source: str, what: str = "") -> None:
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

    def __init__(self, config: RemapConfig, context: Context) -> None:
        super().__init__(config, context)
        self.program: Program = compile(_load(config))
        # the original record is needed whenever a failed record is passed on or rerouted
        self._keep_original = not config.drop_on_error or not config.drop_on_abort or config.reroute_dropped

    def outputs(self) -> list[str]:
        return [DROPPED] if self.config.reroute_dropped else []

    def process(self, batch: Batch, emit: Emit) -> None:
        config = self.config
        run = self.program.run
        keep = self._keep_original
        source_meta = batch.meta
        if source_meta is None and self.program.uses_metadata:
            source_meta = [{} for _ in batch.records]
        records: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] | None = None if source_meta is None else []
        dropped: list[dict[str, Any]] = []
        dropped_meta: list[dict[str, Any]] = []
        errors = 0
        problem: RemapError | RemapAbort
        for index, record in enumerate(batch.records):
            record_meta = None if source_meta is None else source_meta[index]
            try:
                out = run(clone(record) if keep else record, record_meta)
            except RemapAbort as exc:
                drop = config.drop_on_abort
                reason, problem = "abort", exc
            except RemapError as exc:
                drop = config.drop_on_error
                reason, problem = "error", exc
                errors += 1
                if errors == 1:
                    self.context.logger.warning("remap %r: %s (record %d of the batch; further errors in this "
                                                "batch are counted, not logged)", self.id, exc, index)
            else:
                records.append(out)
                if meta is not None:
                    meta.append(record_meta)  # type: ignore[arg-type]
                continue
            if not drop:
                records.append(record)
                if meta is not None:
                    meta.append(record_meta)  # type: ignore[arg-type]
            elif config.reroute_dropped:
                dropped.append(record)
                info = {"reason": reason, "message": str(problem), "line": problem.line,
                        "column": problem.column, "component_id": self.id, "component_type": "remap"}
                dropped_meta.append({**(record_meta or {}), "dropped": info})
        if errors > 1:
            self.context.logger.warning("remap %r: %d records of the batch failed", self.id, errors)
        if records:
            emit(batch.derive(records, meta))
        if dropped:
            emit(batch.derive(dropped, dropped_meta), DROPPED)


class FilterConfig(ComponentConfig):
    condition: str = Field(..., description="A remap expression returning a boolean; records where it is not "
                                            "true are dropped (and acknowledged).")

    @model_validator(mode="after")
    def _compiles(self) -> FilterConfig:
        _check(compile_condition, self.condition)
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

    A condition that fails for a record counts as false (logged once per batch).
    """
    test = condition.test
    keep: list[int] = []
    failed = 0
    records = batch.records
    indices = range(len(records)) if among is None else among
    for index in indices:
        try:
            if test(records[index], batch.meta_at(index)):
                keep.append(index)
        except RemapError as exc:
            failed += 1
            if failed == 1:
                stage.context.logger.warning("%s %r: condition failed, treated as false: %s",
                                             stage.__class__.__name__, stage.id, exc)
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
    def _conditions_fit_mode(self) -> RouterConfig:
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
                _check(compile_condition, condition, f"route {name!r}: ")
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

    def outputs(self) -> list[str]:
        names = self.config.route_names()
        return names if self.config.mode == "fan_out" else [*names, UNMATCHED]

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
