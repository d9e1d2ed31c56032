"""A stored reading as the JSON text `json_format.MessageToJson(preserving_proto_field_name=True,
indent=None)` writes, made on demand from the protobuf body (the store keeps no JSON copy).

protobuf's json_format walks every field through a chain of generic checks in Python (about
0.08 ms per reading); here each message type gets a table of per-field converters once and a
reading costs one `ListFields()` (C) per message plus a dict lookup per set field (about
0.05 ms). The output is checked equal to json_format's in the tests; types the reading never
uses (maps, Any, Struct, wrappers, float32) are refused when the table is built, so a future
proto change cannot silently write different JSON.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_Convert = Callable[[Any], Any]
_TIMESTAMP = "google.protobuf.Timestamp"
_INT64 = (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64)
_tables: dict[str, dict[str, _Convert]] = {}


class UnsupportedFieldError(TypeError):
    """A message uses a protobuf feature this converter does not spell like json_format."""


def _double(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _timestamp(message: Any) -> Any:
    return message.ToJsonString()


def _scalar(field: FieldDescriptor) -> _Convert:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        message_type = field.message_type
        assert message_type is not None
        if message_type.full_name == _TIMESTAMP:
            return _timestamp
        if message_type.full_name.startswith("google.protobuf."):
            raise UnsupportedFieldError(f"{field.full_name}: well-known type "
                                        f"{message_type.full_name} is not supported")
        return _message_converter(message_type)
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        enum_type = field.enum_type
        assert enum_type is not None
        names = {v.number: v.name for v in enum_type.values}
        return lambda value: names.get(value, value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return lambda value: base64.b64encode(value).decode("utf-8")
    if cpp in _INT64:
        return str
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        raise UnsupportedFieldError(f"{field.full_name}: float32 is not supported (use double)")
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return bool
    return _same


def _same(value: Any) -> Any:
    return value


def _field(field: FieldDescriptor) -> _Convert:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        raise UnsupportedFieldError(f"{field.full_name}: map fields are not supported")
    one = _scalar(field)
    if field.is_repeated:
        return lambda values: [one(v) for v in values]
    return one


def _table(descriptor: Descriptor) -> dict[str, _Convert]:
    table = _tables.get(descriptor.full_name)
    if table is None:
        table = {}
        _tables[descriptor.full_name] = table  # before recursing: a message may contain itself
        for field in descriptor.fields:
            table[field.name] = _field(field)
    return table


def _message_converter(descriptor: Descriptor) -> _Convert:
    table = _table(descriptor)

    def convert(message: Any) -> dict[str, Any]:
        return {field.name: table[field.name](value) for field, value in message.ListFields()}

    return convert


def to_object(message: Message) -> dict[str, Any]:
    """The message as json_format's object (proto field names, int64 as strings, enum names)."""
    descriptor: Any = message.DESCRIPTOR  # upb's Descriptor type, the same interface
    table = _table(descriptor)
    return {field.name: table[field.name](value) for field, value in message.ListFields()}


def to_json(message: Message) -> str:
    """The message as json_format.MessageToJson(preserving_proto_field_name=True, indent=None)."""
    return json.dumps(to_object(message))
