"""``python``: a user function over each record or each batch, the escape hatch for custom code.

:func:`function_stage` turns a function given in Python (``Pipeline.from_dict(..., components={"double":
double})``) into a stage class that does the same.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field

from conduix.components import Access, Batch, ComponentConfig, Context, Emit, Stage
from conduix.errors import ComponentError, ConfigError

__all__ = ["FunctionStage", "PythonStage", "function_stage", "import_function"]


class FunctionStageConfig(ComponentConfig):
    mode: Literal["record", "batch"] = Field("record", description="Call the function per record or per batch.")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for every call.")


class PythonStageConfig(ComponentConfig):
    function: str = Field(..., pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
                          description="'module:function'. Record mode: f(record) -> dict | list[dict] | None. "
                                      "Batch mode: f(records) -> list[dict].")
    mode: Literal["record", "batch"] = Field("record", description="Call the function per record or per batch.")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for every call.")
    python_path: list[str] = Field(default_factory=list, description="Directories searched for the module "
                                   "(the working directory always is).")


def import_function(target: str, python_path: list[str] | None = None) -> Callable[..., Any]:
    """Import ``module:function``; failures are ConfigErrors that say what to fix."""
    module_name, _, attr = target.partition(":")
    for directory in [*(python_path or []), os.getcwd()]:
        directory = os.path.abspath(directory)
        if directory not in sys.path:
            sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r}: {exc}",
                          hint="check 'function', and 'python_path' for where the module lives") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ConfigError(f"module {module_name!r} has no {attr!r}", hint="check the function name")
    if not callable(obj):
        raise ConfigError(f"{target} is not callable", hint="name a function")
    return obj  # type: ignore[no-any-return,unused-ignore]


class FunctionStage(Stage[Any]):
    """Calls :attr:`function` per record or per batch.

    Record mode: the function gets a record and returns a record, a list of records, or None to drop it.
    Batch mode: it gets the list of records and returns a list. A function that raises fails the batch
    with the record's position (and ``on_error`` decides what happens).
    """

    Config: ClassVar[type[ComponentConfig]] = FunctionStageConfig
    function: Callable[..., Any]

    @property
    def function_name(self) -> str:
        return f"{self.function.__module__}:{self.function.__qualname__}"

    def process(self, batch: Batch, emit: Emit) -> None:
        if self.config.mode == "batch":
            self._process_batch(batch, emit)
        else:
            self._process_records(batch, emit)

    def _process_batch(self, batch: Batch, emit: Emit) -> None:
        out = self.function(batch.records, **self.config.options)
        if out is None:
            return
        if not isinstance(out, list):
            raise ComponentError(f"stage {self.id!r}: {self.function_name} returned {type(out).__name__}, "
                                 "expected a list of records", component=self.id)
        same = out is batch.records or len(out) == len(batch.records)
        emit(batch.derive(out, batch.meta if same else None))

    def _process_records(self, batch: Batch, emit: Emit) -> None:
        fn = self.function
        options = self.config.options
        if options:
            fn = functools.partial(fn, **options)
        records: list[dict[str, Any]] = []
        append = records.append
        source_meta = batch.meta
        meta: list[dict[str, Any]] | None = None if source_meta is None else []
        index = 0
        try:
            if meta is None:  # the hot path: no per-record metadata to keep aligned
                for index, record in enumerate(batch.records):  # noqa: B007 (index is read on error)
                    out = fn(record)
                    if out is None:
                        continue
                    if type(out) is list:
                        records.extend(out)
                    else:
                        append(out)
            else:
                assert source_meta is not None
                for index, record in enumerate(batch.records):
                    out = fn(record)
                    if out is None:
                        continue
                    items = out if type(out) is list else [out]
                    records.extend(items)
                    meta.extend([source_meta[index]] * len(items))
        except Exception as exc:
            where = _position(batch, index)
            raise ComponentError(f"stage {self.id!r} failed on the record at {where}: "
                                 f"{type(exc).__name__}: {exc}", component=self.id, position=where) from exc
        emit(batch.derive(records, meta))


class PythonStage(FunctionStage):
    """Calls your function ``module:function`` per record or per batch: the escape hatch for custom code.

    Record mode: the function gets a record and returns a record, a list of records, or None to drop it.
    Batch mode: it gets the list of records and returns a list. A function that raises fails the batch
    with the record's position (and ``on_error`` decides what happens).
    """

    Config = PythonStageConfig

    @classmethod
    def access(cls, config: PythonStageConfig) -> Access:
        return Access(code=True)  # whoever writes the pipeline runs code where it runs

    def __init__(self, config: PythonStageConfig, context: Context) -> None:
        super().__init__(config, context)
        self.function = import_function(config.function, config.python_path)

    @property
    def function_name(self) -> str:
        return str(self.config.function)


def function_stage(function: Callable[..., Any]) -> type[FunctionStage]:
    """A stage class calling ``function`` (per record unless its config says ``mode: batch``)."""
    name = getattr(function, "__name__", "function")
    return type(f"FunctionStage[{name}]", (FunctionStage,), {
        "function": staticmethod(function), "__doc__": function.__doc__ or f"Calls {name} per record.",
        "__module__": getattr(function, "__module__", __name__), "__qualname__": getattr(
            function, "__qualname__", name)})


def _position(batch: Batch, index: int) -> str:
    meta = batch.meta_at(index)
    if "file" in meta and "line" in meta:
        return f"{meta['file']}:{meta['line']}"
    for key in ("offset", "line", "position"):
        if key in meta:
            return f"{key} {meta[key]}"
    if isinstance(batch.position, tuple) and len(batch.position) == 2 and isinstance(batch.position[0], int):
        return f"sequence {batch.position[0] + index}"
    return f"index {index} of the batch at {batch.position!r}"
