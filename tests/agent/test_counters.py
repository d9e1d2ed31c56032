"""Counters across polls: 32-bit wraps are added back, decreases are flagged and kept raw."""

from __future__ import annotations

from kdfm_agent.counters import COUNTER32_MODULUS, DECREASED, WrapPolicy, carry_over
from kdfm_agent.model import Counter

LIFE = "1.3.6.1.2.1.43.10.2.1.4.1.1"
COLOUR = "1.3.6.1.4.1.1347.42.3.1.1.1.1.2"


def life(value: int, source: str = LIFE, name: str = "life_count") -> Counter:
    return Counter(name=name, value=value, unit="impressions", source=source)


def test_an_increase_passes_unchanged():
    counters, findings = carry_over([life(1000)], [life(1250)])
    assert counters == (life(1250),)
    assert findings == ()


def test_first_poll_has_nothing_to_compare():
    counters, findings = carry_over([], [life(7), life(9, COLOUR, "colour")])
    assert counters == (life(7), life(9, COLOUR, "colour"))
    assert findings == ()


def test_a_counter32_that_goes_from_near_the_top_to_small_wrapped():
    counters, findings = carry_over([life(COUNTER32_MODULUS - 100)], [life(400)])
    assert counters == (life(COUNTER32_MODULUS + 400),)
    assert findings == ()


def test_the_wrap_is_carried_on_to_the_next_polls():
    wrapped, _ = carry_over([life(COUNTER32_MODULUS - 10)], [life(5)])
    later, findings = carry_over(wrapped, [life(900)])
    assert later == (life(COUNTER32_MODULUS + 900),)
    assert findings == ()
    again, findings = carry_over(later, [life(1000)])
    assert again == (life(COUNTER32_MODULUS + 1000),)
    assert findings == ()


def test_a_decrease_that_is_no_wrap_is_flagged_and_the_raw_value_kept():
    counters, findings = carry_over([life(500_000), life(30, COLOUR, "colour")],
                                    [life(1_200), life(31, COLOUR, "colour")])  # fmt: skip
    assert counters == (life(1_200), life(31, COLOUR, "colour"))
    (finding,) = findings
    assert finding.code == DECREASED
    assert finding.oid == LIFE
    assert "life_count" in finding.message and "500000" in finding.message
    assert "1200" in finding.message


def test_a_drop_from_near_the_top_to_a_large_value_is_a_decrease_not_a_wrap():
    # A device prints far fewer than 2^24 pages between two polls: this is a reset.
    counters, findings = carry_over([life(COUNTER32_MODULUS - 5)], [life(3_000_000_000)])
    assert counters == (life(3_000_000_000),)
    assert [f.code for f in findings] == [DECREASED]


def test_a_decrease_after_a_wrap_keeps_the_raw_value():
    counters, findings = carry_over([life(COUNTER32_MODULUS + 5_000)], [life(3_000)])
    assert counters == (life(3_000),)
    assert [f.oid for f in findings] == [LIFE]


def test_values_beyond_32_bits_get_no_wrap_arithmetic_but_a_decrease_is_still_flagged():
    big = COUNTER32_MODULUS * 3 + 7  # a Counter64 or a text counter
    counters, findings = carry_over([life(big)], [life(big + 10)])
    assert counters == (life(big + 10),)
    assert findings == ()
    counters, findings = carry_over([life(big + 10)], [life(big)])
    assert counters == (life(big),)
    assert [(f.code, f.oid) for f in findings] == [(DECREASED, LIFE)]


def test_the_wrap_window_is_a_policy():
    strict = WrapPolicy(near_top=COUNTER32_MODULUS - 10, max_after_wrap=10)
    counters, findings = carry_over([life(COUNTER32_MODULUS - 100)], [life(5)], strict)
    assert counters == (life(5),)
    assert [f.code for f in findings] == [DECREASED]
