"""Fixtures of the cloud tests: readings as the agent sends them, and a repository per back end."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kdfm_proto.v1 import reading_pb2 as pb

from .kit import Pki, build_reading

MakeReading = Callable[..., pb.Reading]


@pytest.fixture
def make_reading() -> MakeReading:
    """The reading factory (see build_reading)."""
    return build_reading


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA, the gateway's certificate and agent certificates on demand."""
    return Pki(tmp_path_factory.mktemp("pki"))
