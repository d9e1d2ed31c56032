import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from kdfm_proto.v1 import reading_pb2 as _reading_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_OUTCOME_UNSPECIFIED: _ClassVar[TaskOutcome]
    TASK_OUTCOME_SUCCEEDED: _ClassVar[TaskOutcome]
    TASK_OUTCOME_FAILED: _ClassVar[TaskOutcome]
    TASK_OUTCOME_REJECTED: _ClassVar[TaskOutcome]
TASK_OUTCOME_UNSPECIFIED: TaskOutcome
TASK_OUTCOME_SUCCEEDED: TaskOutcome
TASK_OUTCOME_FAILED: TaskOutcome
TASK_OUTCOME_REJECTED: TaskOutcome

class AgentRef(_message.Message):
    __slots__ = ("tenant", "agent_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    agent_id: str
    def __init__(self, tenant: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("activation_code", "csr_pem", "hostname", "agent_version")
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    activation_code: str
    csr_pem: bytes
    hostname: str
    agent_version: str
    def __init__(self, activation_code: _Optional[str] = ..., csr_pem: _Optional[bytes] = ..., hostname: _Optional[str] = ..., agent_version: _Optional[str] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("agent", "certificate_pem", "chain_pem", "ca_bundle_pem", "not_after", "gateway")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CHAIN_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_BUNDLE_PEM_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    agent: AgentRef
    certificate_pem: bytes
    chain_pem: bytes
    ca_bundle_pem: bytes
    not_after: _timestamp_pb2.Timestamp
    gateway: str
    def __init__(self, agent: _Optional[_Union[AgentRef, _Mapping]] = ..., certificate_pem: _Optional[bytes] = ..., chain_pem: _Optional[bytes] = ..., ca_bundle_pem: _Optional[bytes] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., gateway: _Optional[str] = ...) -> None: ...

class RenewCertificateRequest(_message.Message):
    __slots__ = ("agent", "csr_pem")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    agent: AgentRef
    csr_pem: bytes
    def __init__(self, agent: _Optional[_Union[AgentRef, _Mapping]] = ..., csr_pem: _Optional[bytes] = ...) -> None: ...

class PollRequest(_message.Message):
    __slots__ = ("agent", "agent_version", "config_version", "spooled_readings")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPOOLED_READINGS_FIELD_NUMBER: _ClassVar[int]
    agent: AgentRef
    agent_version: str
    config_version: int
    spooled_readings: int
    def __init__(self, agent: _Optional[_Union[AgentRef, _Mapping]] = ..., agent_version: _Optional[str] = ..., config_version: _Optional[int] = ..., spooled_readings: _Optional[int] = ...) -> None: ...

class SnmpCredentialRef(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("read_interval_seconds", "discover_interval_seconds")
    READ_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DISCOVER_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    read_interval_seconds: int
    discover_interval_seconds: int
    def __init__(self, read_interval_seconds: _Optional[int] = ..., discover_interval_seconds: _Optional[int] = ...) -> None: ...

class AgentConfig(_message.Message):
    __slots__ = ("version", "targets", "exclusions", "credentials", "schedule")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIONS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    version: int
    targets: _containers.RepeatedScalarFieldContainer[str]
    exclusions: _containers.RepeatedScalarFieldContainer[str]
    credentials: _containers.RepeatedCompositeFieldContainer[SnmpCredentialRef]
    schedule: Schedule
    def __init__(self, version: _Optional[int] = ..., targets: _Optional[_Iterable[str]] = ..., exclusions: _Optional[_Iterable[str]] = ..., credentials: _Optional[_Iterable[_Union[SnmpCredentialRef, _Mapping]]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class ReadNow(_message.Message):
    __slots__ = ("targets",)
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, targets: _Optional[_Iterable[str]] = ...) -> None: ...

class DiscoverNow(_message.Message):
    __slots__ = ("targets",)
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, targets: _Optional[_Iterable[str]] = ...) -> None: ...

class WebAccess(_message.Message):
    __slots__ = ("device_address", "device_port", "relay", "session_id")
    DEVICE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_PORT_FIELD_NUMBER: _ClassVar[int]
    RELAY_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    device_address: str
    device_port: int
    relay: str
    session_id: str
    def __init__(self, device_address: _Optional[str] = ..., device_port: _Optional[int] = ..., relay: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class Diagnostics(_message.Message):
    __slots__ = ("target", "kind")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    target: str
    kind: str
    def __init__(self, target: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("task_id", "created_at", "read_now", "discover_now", "update_config", "web_access", "diagnostics")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    READ_NOW_FIELD_NUMBER: _ClassVar[int]
    DISCOVER_NOW_FIELD_NUMBER: _ClassVar[int]
    UPDATE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    WEB_ACCESS_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    created_at: _timestamp_pb2.Timestamp
    read_now: ReadNow
    discover_now: DiscoverNow
    update_config: AgentConfig
    web_access: WebAccess
    diagnostics: Diagnostics
    def __init__(self, task_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., read_now: _Optional[_Union[ReadNow, _Mapping]] = ..., discover_now: _Optional[_Union[DiscoverNow, _Mapping]] = ..., update_config: _Optional[_Union[AgentConfig, _Mapping]] = ..., web_access: _Optional[_Union[WebAccess, _Mapping]] = ..., diagnostics: _Optional[_Union[Diagnostics, _Mapping]] = ...) -> None: ...

class PollResponse(_message.Message):
    __slots__ = ("tasks", "next_poll_seconds", "config")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_POLL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    next_poll_seconds: int
    config: AgentConfig
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., next_poll_seconds: _Optional[int] = ..., config: _Optional[_Union[AgentConfig, _Mapping]] = ...) -> None: ...

class UploadReadingsRequest(_message.Message):
    __slots__ = ("agent", "readings")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    READINGS_FIELD_NUMBER: _ClassVar[int]
    agent: AgentRef
    readings: _containers.RepeatedCompositeFieldContainer[_reading_pb2.Reading]
    def __init__(self, agent: _Optional[_Union[AgentRef, _Mapping]] = ..., readings: _Optional[_Iterable[_Union[_reading_pb2.Reading, _Mapping]]] = ...) -> None: ...

class RejectedReading(_message.Message):
    __slots__ = ("reading_id", "reason")
    READING_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    reading_id: str
    reason: str
    def __init__(self, reading_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UploadReadingsResponse(_message.Message):
    __slots__ = ("acknowledged", "rejected")
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    acknowledged: _containers.RepeatedScalarFieldContainer[str]
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedReading]
    def __init__(self, acknowledged: _Optional[_Iterable[str]] = ..., rejected: _Optional[_Iterable[_Union[RejectedReading, _Mapping]]] = ...) -> None: ...

class ReportTaskResultRequest(_message.Message):
    __slots__ = ("agent", "task_id", "outcome", "message")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    agent: AgentRef
    task_id: str
    outcome: TaskOutcome
    message: str
    def __init__(self, agent: _Optional[_Union[AgentRef, _Mapping]] = ..., task_id: _Optional[str] = ..., outcome: _Optional[_Union[TaskOutcome, str]] = ..., message: _Optional[str] = ...) -> None: ...

class ReportTaskResultResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
