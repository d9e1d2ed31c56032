"""The committed kdfm_proto is what `make protos` generates from protos/kdfm/v1 today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kdfm_proto.v1 import gateway_pb2

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_not_stale() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_service_has_the_agent_calls() -> None:
    methods = set(gateway_pb2.DESCRIPTOR.services_by_name["AgentGateway"].methods_by_name)
    assert {"Enroll", "Poll", "UploadReadings", "ReportTaskResult"} <= methods
    assert gateway_pb2.DESCRIPTOR.package == "kdfm.v1"
