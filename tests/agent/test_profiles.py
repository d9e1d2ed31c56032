"""Profiles: schema validity, `extends:` resolution, selection for every recording."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from harness.snmpsim import communities_in, default_recordings_dir
from kdfm_agent.errors import ProfileError
from kdfm_agent.profile import builtin_profiles, load_documents, resolve, schema, select

PROFILES = resources.files("kdfm_agent.profiles")


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(schema())


@pytest.mark.parametrize(
    "name", sorted(p.name for p in PROFILES.iterdir() if p.name.endswith(".yaml"))
)
def test_every_profile_file_validates(name):
    jsonschema.validate(yaml.safe_load(PROFILES.joinpath(name).read_text()), schema())


def test_extends_merges_child_first():
    documents = load_documents(
        {
            "base": "name: base\nidentity: {model: [{oid: 1.1.1}]}\nquirks: {low_percent: 5}\n",
            "child": "name: child\nextends: [base]\nvendor: V\nidentity: {model: [{oid: 2.2.2}]}\n",
        }
    )
    child = resolve(documents)["child"]
    assert [s.oid for s in child.model] == ["2.2.2", "1.1.1"]
    assert child.quirks.low_percent == 5
    assert child.vendor == "V"


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ({"a": "name: a\nextends: [b]\n", "b": "name: b\nextends: [a]\n"}, "cycle"),
        ({"a": "name: a\nextends: [nope]\n"}, "unknown profile 'nope'"),
        ({"a": "name: a\nquirks:\n  made_up: true\n"}, "made_up"),
        ({"a": "name: b\n"}, "not the stem"),
        ({"a": "name: a\nmatch:\n  sys_descr: ['(']\n"}, "bad regular expression"),
        ({"a": "name: a\nquirks:\n  supply_description: '^(?P<name>.*)'\n"},
         "must name the group `description`"),
        ({"a": "name: a\nquirks:\n  supply_description: '^(?P<description>.*)(?P<sn>x)'\n"},
         "no groups but"),
        ({"a": "name: a\nsupply_status:\n  - {name: t, oid: 1.3.6, colorant: black,"
               " codes: {'1': nearly_gone}}\n"}, "nearly_gone"),
        ({"a": "name: a\nsupply_status:\n  - {name: t, oid: 1.3.6, codes: {'1': low}}\n"},
         "colorant"),
    ],
)
def test_invalid_profiles_are_refused(texts, message):
    with pytest.raises(ProfileError, match=message):
        resolve(load_documents(texts))


def recording_system(stem: str) -> tuple[str | None, str | None]:
    values = {}
    path = Path(default_recordings_dir()) / f"{stem}.snmprec"
    for line in path.read_text(errors="replace").splitlines():
        oid, _, rest = line.partition("|")
        if oid in ("1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0"):
            values[oid] = rest.partition("|")[2]
    return values.get("1.3.6.1.2.1.1.2.0"), values.get("1.3.6.1.2.1.1.1.0")


EXPECTED_PROFILE = {"brother": "brother", "canon": "canon", "fujifilm": "fujixerox",
                    "fujixerox": "fujixerox", "hp": "hp", "konicaminolta": "konicaminolta",
                    "ricoh": "ricoh", "samsung": "samsung", "sharp": "sharp", "utax": "kyocera",
                    "xerox": "xerox", "zebra": "zebra"}  # fmt: skip


@pytest.mark.parametrize(
    "stem", [s for s in communities_in(default_recordings_dir()) if "@" not in s]
)
def test_every_recording_gets_its_vendor_profile(stem):
    sys_object_id, sys_descr = recording_system(stem)
    chosen = select(builtin_profiles(), sys_object_id, sys_descr)
    assert chosen is not None
    assert chosen.name == EXPECTED_PROFILE[stem.split("_")[0]]


def test_sys_descr_matches_when_the_object_id_is_unknown():
    chosen = select(
        builtin_profiles(), "1.3.6.1.4.1.99999.1", "KYOCERA Document Solutions Printing System"
    )
    assert chosen is not None and chosen.name == "kyocera"
    assert select(builtin_profiles(), "1.3.6.1.4.1.9.1.1", "Cisco IOS") is None


def test_supply_status_of_a_child_is_tried_before_its_parents():
    documents = load_documents(
        {
            "base": "name: base\nsupply_status:\n"
                    "  - {name: b, oid: 1.1.1, colorant: black, codes: {'1': low}}\n",
            "child": "name: child\nextends: [base]\nsupply_status:\n"
                     "  - {name: c, oid: 2.2.2, colorant: black, type: ink, codes: {'1': empty}}\n",
        }
    )
    child = resolve(documents)["child"]
    assert [(s.name, s.type, dict(s.codes)) for s in child.supply_status] == [
        ("c", "ink", {1: "empty"}), ("b", "toner", {1: "low"})
    ]


@pytest.mark.parametrize(
    ("profile", "text", "expected"),
    [
        ("xerox", "Black Toner, PN 006R01509;SN48178080E0000481",
         ("Black Toner", "006R01509", "48178080E0000481")),
        ("xerox", "Fuser, PN unknown;SNunknown", ("Fuser", None, None)),
        ("xerox", "Black Toner, PN 006R01509", ("Black Toner", "006R01509", None)),
        ("samsung", "Toner S/N:CRUM-16021314488", ("Toner", None, "CRUM-16021314488")),
        ("samsung", "Black Toner Cartridge S/N:CRUM-", ("Black Toner Cartridge", None, None)),
        ("samsung", "Fuser S/N:", ("Fuser", None, None)),
        ("samsung", "Transfer Roller", ("Transfer Roller", None, None)),
        ("generic", "Black Toner S/N:CRUM-1", ("Black Toner S/N:CRUM-1", None, None)),
    ],
)
def test_supply_description_splits_name_part_and_serial(profile, text, expected):
    parts = builtin_profiles()[profile].quirks.split_description(text)
    assert (parts.description, parts.part_number, parts.serial_number) == expected
