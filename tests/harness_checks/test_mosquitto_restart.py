"""The dev-stack broker keeps its dynamic-security accounts across a restart.

`kdfm-cloud dev down` then `dev up` stops and starts Mosquitto on the same state directory
(`mosquitto.stop` / `mosquitto.start`); agents enrolled before must still log in with their
certificate and still see their own topics only.
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.mqtt import ConnectRefused, connected_client
from kdfm_cloud.agentbroker import AgentBroker
from kdfm_cloud.devstack.errors import StartupError
from kdfm_cloud.devstack.mosquitto import (
    DYNSEC_FILE,
    Broker,
    BrokerConfig,
    running_broker,
    start,
    stop,
)
from kdfm_cloud.nudge import NUDGER_PUBLISH, nudge_topic, status_topic
from kdfm_cloud.pki import CertificateAuthority
from kdfm_cloud.store import AgentKey

pytestmark = pytest.mark.mqtt

NUDGER = "kdfm-cloud-nudger"


def _agent_tls(broker: Broker, cert: Path, key: Path) -> ssl.SSLContext:
    context = broker.tls_context()
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def stopped_state(tmp_path: Path) -> Iterator[Path]:
    """The broker's state directory; whatever broker is recorded there is stopped at the end."""
    state = tmp_path / "mosquitto"
    try:
        yield state
    finally:
        stop(state)


def test_enrolled_agents_survive_a_broker_restart(tmp_path: Path, stopped_state: Path) -> None:
    ca = CertificateAuthority.create("agents")
    (tmp_path / "agents.pem").write_bytes(ca.cert_pem)
    config = BrokerConfig(agent_ca_file=str(tmp_path / "agents.pem"))
    a, b = AgentKey("t-one", "agent-a"), AgentKey("t-two", "agent-b")
    a_cert = ca.issue_agent(a).write(tmp_path, "agent-a")

    first = start(config, stopped_state)
    # What enrolment does (kdfm_cloud.identity via AgentBroker), and what `dev up` adds.
    AgentBroker(first).add_now(a)
    AgentBroker(first).add_now(b)
    nudger_password = secrets.token_urlsafe(16)
    first.add_client(NUDGER, nudger_password, publish=[NUDGER_PUBLISH],
                     subscribe=["kdfm/v1/+/agents/+/status"])
    assert stop(stopped_state)

    second = start(config, stopped_state)
    assert second.agent_port is not None
    with connected_client(second, NUDGER, nudger_password) as nudger, \
            connected_client(second, a.agent_id, "", port=second.agent_port,
                             tls_context=_agent_tls(second, *a_cert)) as agent_a:
        # Its own nudge topic, still; another agent's topics and wildcards, still not.
        assert not agent_a.subscribe(nudge_topic(a))[0].is_failure
        for topic in (nudge_topic(b), "kdfm/v1/#", f"kdfm/v1/{a.tenant}/agents/+/nudge"):
            assert agent_a.subscribe(topic)[0].is_failure, topic
        nudger.publish(nudge_topic(a), b"poll")
        assert agent_a.next_message().topic == nudge_topic(a)

        assert not nudger.subscribe("kdfm/v1/+/agents/+/status")[0].is_failure
        # Mosquitto acknowledges a forbidden publish and drops it: the allowed one that follows
        # arrives first.
        agent_a.publish(status_topic(b), b"offline")
        agent_a.publish(status_topic(a), b"online")
        assert nudger.next_message().topic == status_topic(a)
        assert nudger.received() == []

    # The admin password still manages the kept accounts: once revoked, the certificate still
    # gets agent-a in (the listener trusts the CA) but to no topic at all.
    AgentBroker(second).remove_now(a)
    with connected_client(second, a.agent_id, "", port=second.agent_port,
                          tls_context=_agent_tls(second, *a_cert)) as revoked:
        assert revoked.subscribe(nudge_topic(a))[0].is_failure


def test_dev_up_again_replaces_the_kept_nudger_account(stopped_state: Path) -> None:
    first = start(BrokerConfig(), stopped_state)
    first.add_client(NUDGER, "old-password", publish=[NUDGER_PUBLISH])
    assert stop(stopped_state)
    second = start(BrokerConfig(), stopped_state)
    # `dev up` makes the nudger anew with a new password; the kept one must not stand in the way.
    second.add_client(NUDGER, "new-password", publish=["kdfm/v1/only/this"])
    with connected_client(second, NUDGER, "new-password"):
        pass
    with pytest.raises(ConnectRefused), connected_client(second, NUDGER, "old-password"):
        pass


def test_a_damaged_account_file_stops_the_start_with_its_name(tmp_path: Path) -> None:
    work = tmp_path / "broker"
    with running_broker(work_dir=work) as broker:
        broker.add_client("kept", "kept-password", subscribe=["kept/#"])
    (work / DYNSEC_FILE).write_text('{"clients": [')
    with pytest.raises(StartupError, match=DYNSEC_FILE), running_broker(work_dir=work):
        pass
