"""The role's interface: meta/argument_specs.yml and defaults/main.yml say the same thing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "dca_agent"


def _spec() -> dict[str, Any]:
    data = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    options: dict[str, Any] = data["argument_specs"]["main"]["options"]
    return options


def test_defaults_equal_argument_specs() -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    spec = _spec()
    assert list(defaults) == list(spec), "same options in the same order"
    for name, option in spec.items():
        assert defaults[name] == option["default"], f"{name}: defaults/main.yml differs"


def test_every_option_has_a_type_a_default_and_one_sentence() -> None:
    for name, option in _spec().items():
        assert name.startswith("dca_agent_"), name
        assert option.get("type"), f"{name} has no type"
        assert "default" in option, f"{name} has no default"
        description = option.get("description")
        assert isinstance(description, str), f"{name}: description must be one string"
        # One sentence: ends with a full stop, and no full stop followed by a new sentence.
        assert description.endswith("."), f"{name}: {description!r}"
        assert ". " not in description.rstrip("."), f"{name} has more than one sentence"


def test_defaults_file_documents_each_option() -> None:
    lines = (ROLE / "defaults" / "main.yml").read_text().splitlines()
    spec = _spec()
    for index, line in enumerate(lines):
        name = line.split(":", 1)[0]
        if name in spec:
            assert lines[index - 1] == f"# {spec[name]['description']}", name
