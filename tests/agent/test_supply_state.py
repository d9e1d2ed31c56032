"""The typed state of a supply from its raw level and capacity (pure)."""

from __future__ import annotations

import pytest
from kdfm_agent.collect import supply_state
from kdfm_agent.model import SupplyState as S
from kdfm_agent.profile import builtin_profiles

GENERIC = builtin_profiles()["generic"]
RICOH = builtin_profiles()["ricoh"]


@pytest.mark.parametrize(
    ("level", "capacity", "receptacle", "expected"),
    [
        (54, 100, False, (S.OK, 54.0, None)),
        (11501, 12000, False, (S.OK, 95.8, None)),
        (5, 100, False, (S.LOW, 5.0, None)),
        (0, 100, False, (S.EMPTY, 0.0, None)),
        (-1, 100, False, (S.UNRESTRICTED, None, None)),
        (-2, 100, False, (S.UNKNOWN, None, None)),
        (-3, -2, False, (S.SOME_REMAINING, None, None)),
        (-7, 100, False, (S.VENDOR_CODE, None, "-7")),
        (40, -2, False, (S.SOME_REMAINING, None, None)),
        (None, 100, False, (S.NOT_REPORTED, None, None)),
        (150, 100, False, (S.OK, 100.0, None)),  # over-full firmware is capped, not 150 %
        # Receptacles: level is the space left, percent is how full.
        (90, 100, True, (S.OK, 10.0, None)),
        (5, 100, True, (S.NEARLY_FULL, 95.0, None)),
        (0, 100, True, (S.FULL, 100.0, None)),
        (-3, -2, True, (S.SOME_REMAINING, None, None)),
    ],
)
def test_supply_state(level, capacity, receptacle, expected):
    assert supply_state(level, capacity, receptacle, GENERIC) == expected


def test_vendor_level_codes_come_from_the_profile():
    assert supply_state(-100, 100, False, RICOH) == (S.LOW, None, "-100")
    assert supply_state(-100, 100, False, GENERIC) == (S.VENDOR_CODE, None, "-100")
