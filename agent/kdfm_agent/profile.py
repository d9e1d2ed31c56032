"""Device profiles: load the YAML data, validate it, resolve `extends:`, pick one for a device.

A profile is matched by sysObjectID prefix (longest prefix wins) or, failing that, by a
`sys_descr` regular expression; `generic` is the fallback. Merging follows Datadog's profile
semantics: lists of sources/counters are concatenated child-first, quirk maps are overlaid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from kdfm_agent.errors import ProfileError

GENERIC = "generic"


@dataclass(frozen=True, slots=True)
class Source:
    """Where one identity field comes from: an OID, optionally cut down by a regex."""

    oid: str
    pattern: str | None = None
    strip_prefix: str | None = None

    def extract(self, text: str) -> str | None:
        """The field value in `text`, or None when the pattern does not match."""
        if self.pattern is not None:
            found = re.search(self.pattern, text)
            if found is None:
                return None
            text = found.group(1) if found.groups() else found.group(0)
        if self.strip_prefix and text.startswith(self.strip_prefix):
            text = text[len(self.strip_prefix) :]
        return text.strip() or None


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """A vendor counter: a scalar OID, or a table whose rows are each a counter."""

    name: str
    oid: str
    unit: str
    table: bool = False
    names: Mapping[str, str] = field(default_factory=dict)
    pattern: str | None = None

    def count(self, text: str) -> str | None:
        """The digits of a counter sent as text, or None when the pattern does not match."""
        if self.pattern is None:
            return text
        found = re.search(self.pattern, text)
        return found.group(1) if found else None


@dataclass(frozen=True, slots=True)
class Quirks:
    """Named deviations from RFC 3805 that a profile declares."""

    fallback_context: str | None = None
    no_bulk: bool = False
    level_codes: Mapping[int, str] = field(default_factory=dict)
    low_percent: float = 10.0
    supply_description: str | None = None
    colorant_from_description: bool = False

    def split_description(self, text: str | None) -> SupplyText:
        """The parts of a supply description whose firmware packs more than a name into it."""
        if text is None or self.supply_description is None:
            return SupplyText(text)
        found = re.match(self.supply_description, text)
        if found is None:
            return SupplyText(text)
        parts = {k: (v.strip() or None) if v is not None else None
                 for k, v in found.groupdict().items()}  # fmt: skip
        return SupplyText(
            parts.get("description"), parts.get("part_number"), parts.get("serial_number")
        )


@dataclass(frozen=True, slots=True)
class SupplyText:
    """prtMarkerSuppliesDescription split into the supply's name, part and serial number."""

    description: str | None
    part_number: str | None = None
    serial_number: str | None = None


SUPPLY_TEXT_GROUPS = frozenset({"description", "part_number", "serial_number"})
"""The named groups a `supply_description` expression may define (`description` is required)."""


@dataclass(frozen=True, slots=True)
class SupplyStatusSpec:
    """A vendor object that states one supply's condition as a code (BROTHER-MIB brToner1Low).

    It applies to the supply of `type` whose colorant is `colorant`, and only when
    prtMarkerSuppliesLevel gives no amount (-2, -3, or nothing): a number from the Printer-MIB
    is never overridden by a coarser vendor code.
    """

    name: str
    oid: str
    colorant: str
    codes: Mapping[int, str]
    type: str = "toner"


@dataclass(frozen=True, slots=True)
class Profile:
    """A resolved profile (its `extends:` chain already merged in)."""

    name: str
    vendor: str | None = None
    priority: int = 0
    sys_object_ids: tuple[str, ...] = ()
    sys_descr_patterns: tuple[str, ...] = ()
    quirks: Quirks = field(default_factory=Quirks)
    model: tuple[Source, ...] = ()
    serial_number: tuple[Source, ...] = ()
    firmware: tuple[Source, ...] = ()
    counters: tuple[CounterSpec, ...] = ()
    supply_status: tuple[SupplyStatusSpec, ...] = ()

    def object_id_match(self, sys_object_id: str) -> int:
        """Length of the longest declared prefix of `sys_object_id` (0 = no match)."""
        best = 0
        for prefix in self.sys_object_ids:
            if sys_object_id == prefix or sys_object_id.startswith(prefix + "."):
                best = max(best, prefix.count(".") + 1)
        return best

    def descr_match(self, sys_descr: str) -> bool:
        """True when a declared pattern is found in `sys_descr`."""
        return any(re.search(p, sys_descr) for p in self.sys_descr_patterns)


@cache
def schema() -> dict[str, Any]:
    """The JSON schema every profile file must satisfy."""
    text = resources.files("kdfm_agent.profiles").joinpath("profile.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Any:
    # `jsonschema.validate` checks the schema against its meta-schema on every call: building the
    # validator once makes loading the built-in profiles ~10x cheaper at each agent start.
    # Imported here, not at the top: 50 ms that commands which never load a profile (and `scan`,
    # which loads them while its sweep waits for replies) should not pay at start-up.
    import jsonschema  # noqa: PLC0415

    schema_document = schema()
    validator_class = jsonschema.validators.validator_for(schema_document)
    validator_class.check_schema(schema_document)
    return validator_class(schema_document)


def validate(document: Any, origin: str) -> dict[str, Any]:
    """`document` if it satisfies the schema, else `ProfileError` naming the file and the path."""
    import jsonschema  # noqa: PLC0415 - see _validator

    try:
        error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
        if error is not None:
            raise error
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        raise ProfileError(f"profile {origin}: {where}: {err.message}") from err
    for key in ("model", "serial_number", "firmware"):
        for source in document.get("identity", {}).get(key, []):
            _check_regex(origin, source.get("pattern"))
    for pattern in document.get("match", {}).get("sys_descr", []):
        _check_regex(origin, pattern)
    _check_supply_description(origin, document.get("quirks", {}).get("supply_description"))
    return dict(document)


def _check_supply_description(origin: str, pattern: str | None) -> None:
    _check_regex(origin, pattern)
    if pattern is None:
        return
    groups = set(re.compile(pattern).groupindex)
    if "description" not in groups or not groups <= SUPPLY_TEXT_GROUPS:
        raise ProfileError(
            f"profile {origin}: quirks/supply_description {pattern!r} must name the group "
            f"`description` and no groups but {sorted(SUPPLY_TEXT_GROUPS)}"
        )


def _check_regex(origin: str, pattern: str | None) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as err:
        raise ProfileError(f"profile {origin}: bad regular expression {pattern!r}: {err}") from err


def load_documents(texts: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Parse and validate YAML texts keyed by file stem; the `name` must equal the stem."""
    documents: dict[str, dict[str, Any]] = {}
    for stem, text in texts.items():
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ProfileError(f"profile {stem}: not valid YAML: {err}") from err
        document = validate(document, stem)
        if document["name"] != stem:
            raise ProfileError(f"profile {stem}: `name` is {document['name']!r}, not the stem")
        documents[stem] = document
    return documents


def resolve(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Profile]:
    """Every document with its `extends:` chain merged; unknown parents and cycles raise."""
    merged: dict[str, dict[str, Any]] = {}

    def visit(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if name in chain:
            raise ProfileError(
                f"profile {chain[0]}: `extends:` cycle {' -> '.join((*chain, name))}"
            )
        if name in merged:
            return merged[name]
        if name not in documents:
            raise ProfileError(f"profile {chain[-1]}: extends unknown profile {name!r}")
        document = dict(documents[name])
        base: dict[str, Any] = {}
        for parent in document.get("extends", []):
            base = _merge(base, visit(parent, (*chain, name)))
        merged[name] = _merge(base, document)
        return merged[name]

    for name in documents:
        visit(name, ())
    return {name: _profile(doc) for name, doc in merged.items()}


def _merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in child.items():
        if key == "extends":
            continue
        if key == "match":
            result[key] = value  # never merged: a child matches on its own terms
        elif key == "identity":
            identity = dict(base.get("identity", {}))
            for field_name, sources in value.items():
                # Child sources are tried first, the parent's stay as fallbacks.
                identity[field_name] = [*sources, *identity.get(field_name, [])]
            result[key] = identity
        elif key == "counters":
            result[key] = [*base.get("counters", []), *value]
        elif key == "supply_status":
            # The first spec that fits a supply is used: the child's come first.
            result[key] = [*value, *base.get("supply_status", [])]
        elif key == "quirks":
            result[key] = {**base.get("quirks", {}), **value}
        else:
            result[key] = value
    return result


def _sources(items: Iterable[Mapping[str, Any]]) -> tuple[Source, ...]:
    seen: list[Source] = []
    for item in items:
        source = Source(item["oid"], item.get("pattern"), item.get("strip_prefix"))
        if source not in seen:
            seen.append(source)
    return tuple(seen)


def _profile(document: Mapping[str, Any]) -> Profile:
    quirks = document.get("quirks", {})
    identity = document.get("identity", {})
    match = document.get("match", {})
    return Profile(
        name=document["name"],
        vendor=document.get("vendor"),
        priority=document.get("priority", 0),
        sys_object_ids=tuple(match.get("sys_object_id", [])),
        sys_descr_patterns=tuple(match.get("sys_descr", [])),
        quirks=Quirks(
            fallback_context=quirks.get("fallback_context"),
            no_bulk=quirks.get("no_bulk", False),
            level_codes={int(k): v for k, v in quirks.get("level_codes", {}).items()},
            low_percent=float(quirks.get("low_percent", 10.0)),
            supply_description=quirks.get("supply_description"),
            colorant_from_description=quirks.get("colorant_from_description", False),
        ),
        model=_sources(identity.get("model", [])),
        serial_number=_sources(identity.get("serial_number", [])),
        firmware=_sources(identity.get("firmware", [])),
        counters=tuple(
            CounterSpec(
                c["name"],
                c["oid"],
                c["unit"],
                c.get("table", False),
                c.get("names", {}),
                c.get("pattern"),
            )
            for c in document.get("counters", [])
        ),
        supply_status=tuple(
            SupplyStatusSpec(
                name=item["name"],
                oid=item["oid"],
                colorant=item["colorant"],
                codes={int(k): v for k, v in item["codes"].items()},
                type=item.get("type", "toner"),
            )
            for item in document.get("supply_status", [])
        ),
    )


@cache
def builtin_profiles() -> dict[str, Profile]:
    """The profiles shipped in `kdfm_agent/profiles/`, validated and resolved (cached)."""
    folder = resources.files("kdfm_agent.profiles")
    texts = {
        entry.name.removesuffix(".yaml"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }
    profiles = resolve(load_documents(texts))
    if GENERIC not in profiles:
        raise ProfileError(f"the built-in profiles lack the fallback profile {GENERIC!r}")
    return profiles


def select(
    profiles: Mapping[str, Profile], sys_object_id: str | None, sys_descr: str | None
) -> Profile | None:
    """The best profile for a device, or None when only the generic fallback would apply."""
    best: tuple[int, int, int] = (0, 0, 0)
    chosen: Profile | None = None
    for profile in profiles.values():
        by_oid = profile.object_id_match(sys_object_id) if sys_object_id else 0
        by_descr = 1 if sys_descr and profile.descr_match(sys_descr) else 0
        score = (by_oid, by_descr, profile.priority)
        if (by_oid or by_descr) and score > best:
            best, chosen = score, profile
    return chosen
