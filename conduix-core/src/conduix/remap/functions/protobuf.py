"""``parse_proto`` and ``encode_proto``: Protocol Buffers messages described by a descriptor-set file.

The descriptor file (``protoc --descriptor_set_out=... --include_imports``) is read on the machine that
runs the pipeline the first time a program calls the function, then kept; compiling or validating a
pipeline reads nothing.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from conduix.remap.functions._support import from_bytes, library, to_bytes
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, kind_of, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
_MAX_DESCRIPTOR_BYTES = 64 * 1024 * 1024


@functools.lru_cache(maxsize=32)
def _message_class(path: str, message_type: str) -> Any:
    descriptor_pb2 = library("google.protobuf.descriptor_pb2", "protobuf")
    pool_module = library("google.protobuf.descriptor_pool", "protobuf")
    factory = library("google.protobuf.message_factory", "protobuf")
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_DESCRIPTOR_BYTES)
    except OSError as exc:
        raise ExprError(f"unable to read the descriptor file {path!r}: {exc.strerror}") from None
    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.ParseFromString(data)
        pool = pool_module.DescriptorPool()
        for proto in files.file:
            pool.Add(proto)
        descriptor = pool.FindMessageTypeByName(message_type)
    except KeyError:
        raise ExprError(f"message type {message_type!r} is not in the descriptor file {path!r}") from None
    except Exception as exc:  # protobuf raises several error types for a broken descriptor set
        raise ExprError(f"unable to load the descriptor file {path!r}: {exc}") from None
    return factory.GetMessageClass(descriptor)


def _to_value(field: Any, value: Any) -> Any:
    kind = field.type
    if kind == field.TYPE_MESSAGE:
        return _message_to_object(value)
    if kind == field.TYPE_ENUM:
        named = field.enum_type.values_by_number.get(value)
        if named is None:
            raise ExprError(f"The number {value} cannot be in '{field.enum_type.name}'")
        return named.name
    if kind == field.TYPE_BYTES:
        return from_bytes(value)
    if isinstance(value, float) and math.isnan(value):
        raise ExprError("Float number cannot be Nan")
    return value


def _repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf 6+; older versions only have ``label``
    return bool(flag) if flag is not None else bool(field.label == field.LABEL_REPEATED)


def _message_to_object(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {str(k).lower() if isinstance(k, bool) else str(k): _to_value(value_field, v)
                               for k, v in value.items()}
        elif _repeated(field):
            out[field.name] = [_to_value(field, v) for v in value]
        else:
            out[field.name] = _to_value(field, value)
    return out


@function(FUNCTIONS, "parse_proto", Param("value", S), Param("desc_file", S), Param("message_type", S),
          returns=kinds("object"), fallible=True,
          example='msg, err = parse_proto(.payload, "schemas/app.desc", "app.v1.Person")')
def parse_proto(value: str, desc_file: str, message_type: str) -> dict[str, Any]:
    """Decode a Protocol Buffers message (binary) into an object, with the descriptor set in ``desc_file``."""
    cls = _message_class(desc_file, message_type)
    message = cls()
    try:
        message.ParseFromString(to_bytes(value))
    except Exception as exc:  # google.protobuf.message.DecodeError and friends
        raise ExprError(f"Error parsing protobuf: {exc}") from None
    return _message_to_object(message)


_INTEGERS = {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32",
             "sfixed64"}


def _scalar(field: Any, value: Any, lossy: bool) -> Any:
    kind = field.type
    t = type(value)
    if kind == field.TYPE_STRING:
        if t is str:
            return value
        if lossy and t in (int, float, bool):
            from conduix.remap.functions.types import to_string

            return to_string(value)
    elif kind == field.TYPE_BYTES:
        if t is str:
            return to_bytes(value)
    elif kind == field.TYPE_BOOL:
        if t is bool:
            return value
        if t is int:
            return value != 0
        if t is str and value in ("true", "false"):
            return value == "true"
    elif kind in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
        if t in (int, float):
            return float(value)
        if t is str:
            try:
                return float(value)
            except ValueError:
                raise ExprError(f"Cannot parse `{value}` as double") from None
    elif kind == field.TYPE_ENUM:
        if t is str:
            named = field.enum_type.values_by_name.get(value)
            if named is None:
                raise ExprError(f"Enum `{field.enum_type.name}` has no value named `{value}`")
            return named.number
        if t is int:
            return value
    elif t is int:
        return value
    elif t is str:
        try:
            return int(value)
        except ValueError:
            raise ExprError(f"Can't convert '{value}' to an integer") from None
    raise ExprError(f"Cannot encode {kind_of(value)} into the protobuf field {field.name!r}")


def _fill(message: Any, value: dict[str, Any], lossy: bool) -> None:
    fields = message.DESCRIPTOR.fields_by_name
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            raise ExprError(f"Field {key!r} is not in the message {message.DESCRIPTOR.full_name}")
        if item is None:
            continue
        try:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                if type(item) is not dict:
                    raise ExprError(f"Field {key!r} is a map: give an object")
                target = getattr(message, key)
                value_field = field.message_type.fields_by_name["value"]
                key_field = field.message_type.fields_by_name["key"]
                for k, v in item.items():
                    map_key = _scalar(key_field, k, True)
                    if value_field.type == value_field.TYPE_MESSAGE:
                        _fill(target[map_key], v, lossy)
                    else:
                        target[map_key] = _scalar(value_field, v, lossy)
            elif _repeated(field):
                if type(item) is not list:
                    raise ExprError(f"Field {key!r} is repeated: give an array")
                target = getattr(message, key)
                for v in item:
                    if field.type == field.TYPE_MESSAGE:
                        _fill(target.add(), v, lossy)
                    else:
                        target.append(_scalar(field, v, lossy))
            elif field.type == field.TYPE_MESSAGE:
                if type(item) is not dict:
                    raise ExprError(f"Field {key!r} is a message: give an object")
                _fill(getattr(message, key), item, lossy)
            else:
                setattr(message, key, _scalar(field, item, lossy))
        except (ValueError, TypeError) as exc:  # out-of-range integers and the like
            raise ExprError(f"Error setting {key} field: {exc}") from None


@function(FUNCTIONS, "encode_proto", Param("value", kinds("object")), Param("desc_file", S), Param("message_type", S),
          opt("allow_lossy_string_coercion", kinds("boolean"), True), returns=S, fallible=True,
          example='bytes, err = encode_proto({"name": "ada"}, "schemas/app.desc", "app.v1.Person")')
def encode_proto(value: dict[str, Any], desc_file: str, message_type: str, allow_lossy_string_coercion: bool) -> str:
    """Encode an object as a Protocol Buffers message (binary), with the descriptor set in ``desc_file``."""
    message = _message_class(desc_file, message_type)()
    _fill(message, value, allow_lossy_string_coercion)
    return from_bytes(message.SerializeToString())
