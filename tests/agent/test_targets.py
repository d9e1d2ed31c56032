"""Target parsing and scan-spec expansion (pure)."""

from __future__ import annotations

import ipaddress

import pytest
from kdfm_agent.errors import ConfigError
from kdfm_agent.targets import Target, expand_spec, parse_target


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.5", Target("10.0.0.5", 161, "10.0.0.5")),
        ("10.0.0.5:1161", Target("10.0.0.5", 1161, "10.0.0.5")),
        ("printer.example", Target("printer.example", 161, None)),
        ("printer.example:162", Target("printer.example", 162, None)),
        ("fe80::1", Target("fe80::1", 161, "fe80::1")),
        ("[fe80::1]:1161", Target("fe80::1", 1161, "fe80::1")),
    ],
)
def test_parse_target(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["", "host:0", "host:70000", "host:abc", "[fe80::1", "[::1]x"])
def test_parse_target_rejects(text):
    with pytest.raises(ConfigError):
        parse_target(text)


def test_default_port_applies():
    assert parse_target("10.0.0.5", default_port=1161).port == 1161
    assert parse_target("10.0.0.5").label == "10.0.0.5:161"
    assert parse_target("[::1]:5").label == "[::1]:5"


def addresses(spec):
    return [str(a) for a in expand_spec(spec)]


def test_expand_cidr_skips_network_and_broadcast():
    assert addresses("192.0.2.0/30") == ["192.0.2.1", "192.0.2.2"]
    assert addresses("192.0.2.7/32") == ["192.0.2.7"]


def test_expand_range():
    assert addresses("192.0.2.254-192.0.3.1") == ["192.0.2.254", "192.0.2.255", "192.0.3.0",
                                                   "192.0.3.1"]  # fmt: skip


def test_single_host_is_not_a_spec():
    assert expand_spec("printer.example") is None
    assert expand_spec("192.0.2.1") is None


@pytest.mark.parametrize("spec", ["192.0.2.9-192.0.2.1", "10.0.0.0/8", "192.0.2.1-banana",
                                  "192.0.2.0/33"])  # fmt: skip
def test_expand_rejects(spec):
    with pytest.raises(ConfigError):
        expand_spec(spec)


def test_expand_is_lazy_for_ipv6():
    first = next(iter(expand_spec("2001:db8::/120")))
    assert first == ipaddress.ip_address("2001:db8::1")
