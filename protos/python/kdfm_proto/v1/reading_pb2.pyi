import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeviceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_STATUS_UNSPECIFIED: _ClassVar[DeviceStatus]
    DEVICE_STATUS_UNKNOWN: _ClassVar[DeviceStatus]
    DEVICE_STATUS_RUNNING: _ClassVar[DeviceStatus]
    DEVICE_STATUS_WARNING: _ClassVar[DeviceStatus]
    DEVICE_STATUS_TESTING: _ClassVar[DeviceStatus]
    DEVICE_STATUS_DOWN: _ClassVar[DeviceStatus]

class PrinterStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRINTER_STATUS_UNSPECIFIED: _ClassVar[PrinterStatus]
    PRINTER_STATUS_OTHER: _ClassVar[PrinterStatus]
    PRINTER_STATUS_UNKNOWN: _ClassVar[PrinterStatus]
    PRINTER_STATUS_IDLE: _ClassVar[PrinterStatus]
    PRINTER_STATUS_PRINTING: _ClassVar[PrinterStatus]
    PRINTER_STATUS_WARMUP: _ClassVar[PrinterStatus]

class SupplyClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUPPLY_CLASS_UNSPECIFIED: _ClassVar[SupplyClass]
    SUPPLY_CLASS_OTHER: _ClassVar[SupplyClass]
    SUPPLY_CLASS_CONSUMED: _ClassVar[SupplyClass]
    SUPPLY_CLASS_RECEPTACLE: _ClassVar[SupplyClass]

class SupplyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUPPLY_STATE_UNSPECIFIED: _ClassVar[SupplyState]
    SUPPLY_STATE_OK: _ClassVar[SupplyState]
    SUPPLY_STATE_LOW: _ClassVar[SupplyState]
    SUPPLY_STATE_EMPTY: _ClassVar[SupplyState]
    SUPPLY_STATE_UNKNOWN: _ClassVar[SupplyState]
    SUPPLY_STATE_SOME_REMAINING: _ClassVar[SupplyState]
    SUPPLY_STATE_UNRESTRICTED: _ClassVar[SupplyState]
    SUPPLY_STATE_VENDOR_CODE: _ClassVar[SupplyState]
    SUPPLY_STATE_NEARLY_FULL: _ClassVar[SupplyState]
    SUPPLY_STATE_FULL: _ClassVar[SupplyState]
    SUPPLY_STATE_NOT_REPORTED: _ClassVar[SupplyState]
    SUPPLY_STATE_MISSING: _ClassVar[SupplyState]
DEVICE_STATUS_UNSPECIFIED: DeviceStatus
DEVICE_STATUS_UNKNOWN: DeviceStatus
DEVICE_STATUS_RUNNING: DeviceStatus
DEVICE_STATUS_WARNING: DeviceStatus
DEVICE_STATUS_TESTING: DeviceStatus
DEVICE_STATUS_DOWN: DeviceStatus
PRINTER_STATUS_UNSPECIFIED: PrinterStatus
PRINTER_STATUS_OTHER: PrinterStatus
PRINTER_STATUS_UNKNOWN: PrinterStatus
PRINTER_STATUS_IDLE: PrinterStatus
PRINTER_STATUS_PRINTING: PrinterStatus
PRINTER_STATUS_WARMUP: PrinterStatus
SUPPLY_CLASS_UNSPECIFIED: SupplyClass
SUPPLY_CLASS_OTHER: SupplyClass
SUPPLY_CLASS_CONSUMED: SupplyClass
SUPPLY_CLASS_RECEPTACLE: SupplyClass
SUPPLY_STATE_UNSPECIFIED: SupplyState
SUPPLY_STATE_OK: SupplyState
SUPPLY_STATE_LOW: SupplyState
SUPPLY_STATE_EMPTY: SupplyState
SUPPLY_STATE_UNKNOWN: SupplyState
SUPPLY_STATE_SOME_REMAINING: SupplyState
SUPPLY_STATE_UNRESTRICTED: SupplyState
SUPPLY_STATE_VENDOR_CODE: SupplyState
SUPPLY_STATE_NEARLY_FULL: SupplyState
SUPPLY_STATE_FULL: SupplyState
SUPPLY_STATE_NOT_REPORTED: SupplyState
SUPPLY_STATE_MISSING: SupplyState

class Identity(_message.Message):
    __slots__ = ("vendor", "model", "serial_number", "mac_address", "firmware", "sys_object_id", "sys_descr", "sys_name", "location", "contact")
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FIRMWARE_FIELD_NUMBER: _ClassVar[int]
    SYS_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SYS_DESCR_FIELD_NUMBER: _ClassVar[int]
    SYS_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    vendor: str
    model: str
    serial_number: str
    mac_address: str
    firmware: str
    sys_object_id: str
    sys_descr: str
    sys_name: str
    location: str
    contact: str
    def __init__(self, vendor: _Optional[str] = ..., model: _Optional[str] = ..., serial_number: _Optional[str] = ..., mac_address: _Optional[str] = ..., firmware: _Optional[str] = ..., sys_object_id: _Optional[str] = ..., sys_descr: _Optional[str] = ..., sys_name: _Optional[str] = ..., location: _Optional[str] = ..., contact: _Optional[str] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("device_status", "printer_status", "error_flags", "raw_error_state", "summary")
    DEVICE_STATUS_FIELD_NUMBER: _ClassVar[int]
    PRINTER_STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FLAGS_FIELD_NUMBER: _ClassVar[int]
    RAW_ERROR_STATE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    device_status: DeviceStatus
    printer_status: PrinterStatus
    error_flags: _containers.RepeatedScalarFieldContainer[str]
    raw_error_state: bytes
    summary: str
    def __init__(self, device_status: _Optional[_Union[DeviceStatus, str]] = ..., printer_status: _Optional[_Union[PrinterStatus, str]] = ..., error_flags: _Optional[_Iterable[str]] = ..., raw_error_state: _Optional[bytes] = ..., summary: _Optional[str] = ...) -> None: ...

class Counter(_message.Message):
    __slots__ = ("name", "value", "unit", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: int
    unit: str
    source: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[int] = ..., unit: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class Supply(_message.Message):
    __slots__ = ("index", "description", "type", "supply_class", "colorant", "unit", "raw_level", "raw_max_capacity", "state", "percent", "vendor_state", "part_number", "serial_number")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUPPLY_CLASS_FIELD_NUMBER: _ClassVar[int]
    COLORANT_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    RAW_LEVEL_FIELD_NUMBER: _ClassVar[int]
    RAW_MAX_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    VENDOR_STATE_FIELD_NUMBER: _ClassVar[int]
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    index: int
    description: str
    type: str
    supply_class: SupplyClass
    colorant: str
    unit: str
    raw_level: int
    raw_max_capacity: int
    state: SupplyState
    percent: float
    vendor_state: str
    part_number: str
    serial_number: str
    def __init__(self, index: _Optional[int] = ..., description: _Optional[str] = ..., type: _Optional[str] = ..., supply_class: _Optional[_Union[SupplyClass, str]] = ..., colorant: _Optional[str] = ..., unit: _Optional[str] = ..., raw_level: _Optional[int] = ..., raw_max_capacity: _Optional[int] = ..., state: _Optional[_Union[SupplyState, str]] = ..., percent: _Optional[float] = ..., vendor_state: _Optional[str] = ..., part_number: _Optional[str] = ..., serial_number: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("index", "severity", "training_level", "group", "group_index", "location", "code", "description", "time_ticks")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    TRAINING_LEVEL_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    GROUP_INDEX_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TIME_TICKS_FIELD_NUMBER: _ClassVar[int]
    index: int
    severity: str
    training_level: str
    group: str
    group_index: int
    location: int
    code: str
    description: str
    time_ticks: int
    def __init__(self, index: _Optional[int] = ..., severity: _Optional[str] = ..., training_level: _Optional[str] = ..., group: _Optional[str] = ..., group_index: _Optional[int] = ..., location: _Optional[int] = ..., code: _Optional[str] = ..., description: _Optional[str] = ..., time_ticks: _Optional[int] = ...) -> None: ...

class DeviceError(_message.Message):
    __slots__ = ("code", "message", "oid")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OID_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    oid: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., oid: _Optional[str] = ...) -> None: ...

class Reading(_message.Message):
    __slots__ = ("reading_id", "target", "address", "hostname", "collected_at", "identity", "status", "counters", "supplies", "trays", "alerts", "errors", "profile", "credential")
    READING_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    COLLECTED_AT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    SUPPLIES_FIELD_NUMBER: _ClassVar[int]
    TRAYS_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    reading_id: str
    target: str
    address: str
    hostname: str
    collected_at: _timestamp_pb2.Timestamp
    identity: Identity
    status: Status
    counters: _containers.RepeatedCompositeFieldContainer[Counter]
    supplies: _containers.RepeatedCompositeFieldContainer[Supply]
    trays: _containers.RepeatedCompositeFieldContainer[Supply]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    errors: _containers.RepeatedCompositeFieldContainer[DeviceError]
    profile: str
    credential: str
    def __init__(self, reading_id: _Optional[str] = ..., target: _Optional[str] = ..., address: _Optional[str] = ..., hostname: _Optional[str] = ..., collected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., identity: _Optional[_Union[Identity, _Mapping]] = ..., status: _Optional[_Union[Status, _Mapping]] = ..., counters: _Optional[_Iterable[_Union[Counter, _Mapping]]] = ..., supplies: _Optional[_Iterable[_Union[Supply, _Mapping]]] = ..., trays: _Optional[_Iterable[_Union[Supply, _Mapping]]] = ..., alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[DeviceError, _Mapping]]] = ..., profile: _Optional[str] = ..., credential: _Optional[str] = ...) -> None: ...
