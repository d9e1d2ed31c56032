import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataProcessingAgreement(_message.Message):
    __slots__ = ("signed_by", "signed_at", "document_ref")
    SIGNED_BY_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_REF_FIELD_NUMBER: _ClassVar[int]
    signed_by: str
    signed_at: _timestamp_pb2.Timestamp
    document_ref: str
    def __init__(self, signed_by: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., document_ref: _Optional[str] = ...) -> None: ...

class ApplyTenantRequest(_message.Message):
    __slots__ = ("tenant", "region", "agreement", "max_agents", "max_devices")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    MAX_AGENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_DEVICES_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    region: str
    agreement: DataProcessingAgreement
    max_agents: int
    max_devices: int
    def __init__(self, tenant: _Optional[str] = ..., region: _Optional[str] = ..., agreement: _Optional[_Union[DataProcessingAgreement, _Mapping]] = ..., max_agents: _Optional[int] = ..., max_devices: _Optional[int] = ...) -> None: ...

class TenantRecord(_message.Message):
    __slots__ = ("tenant", "region", "agreement", "max_agents", "max_devices", "active", "inactive_reason", "agents", "devices", "retired_at")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    MAX_AGENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_DEVICES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    INACTIVE_REASON_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    RETIRED_AT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    region: str
    agreement: DataProcessingAgreement
    max_agents: int
    max_devices: int
    active: bool
    inactive_reason: str
    agents: int
    devices: int
    retired_at: _timestamp_pb2.Timestamp
    def __init__(self, tenant: _Optional[str] = ..., region: _Optional[str] = ..., agreement: _Optional[_Union[DataProcessingAgreement, _Mapping]] = ..., max_agents: _Optional[int] = ..., max_devices: _Optional[int] = ..., active: _Optional[bool] = ..., inactive_reason: _Optional[str] = ..., agents: _Optional[int] = ..., devices: _Optional[int] = ..., retired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RetireTenantRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class RetireTenantResponse(_message.Message):
    __slots__ = ("tenant", "revoked_agents", "incomplete")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AGENTS_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_FIELD_NUMBER: _ClassVar[int]
    tenant: TenantRecord
    revoked_agents: _containers.RepeatedScalarFieldContainer[str]
    incomplete: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant: _Optional[_Union[TenantRecord, _Mapping]] = ..., revoked_agents: _Optional[_Iterable[str]] = ..., incomplete: _Optional[_Iterable[str]] = ...) -> None: ...
