"""Layers are contracts: which package may import which (checked on the source, not at run time).

agent, cloud and operator share only kdfm_proto; the operator's reconcile plans are pure (no
clients, no I/O libraries); the agent's reading code never reaches into the uplink; product code
never imports the test harness.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PACKAGES = {
    "kdfm_agent": ROOT / "agent" / "kdfm_agent",
    "kdfm_cloud": ROOT / "cloud" / "kdfm_cloud",
    "kdfm_operator": ROOT / "operator" / "kdfm_operator",
}

# (files under this path, may not import a module starting with any of these)
RULES: list[tuple[Path, tuple[str, ...]]] = [
    (PACKAGES["kdfm_agent"], ("kdfm_cloud", "kdfm_operator", "harness")),
    (PACKAGES["kdfm_cloud"], ("kdfm_agent", "kdfm_operator", "harness")),
    (PACKAGES["kdfm_operator"], ("kdfm_agent", "kdfm_cloud", "harness")),
    (PACKAGES["kdfm_operator"] / "reconcile",
     ("kdfm_operator.clients", "kdfm_operator.handlers", "kopf", "hvac", "kubernetes", "aiohttp",
      "requests", "paho", "socket", "subprocess")),
    (PACKAGES["kdfm_agent"] / "profile.py", ("kdfm_agent.uplink", "kdfm_agent.spool")),
    (PACKAGES["kdfm_agent"] / "snmp", ("kdfm_agent.uplink", "kdfm_agent.spool")),
    (PACKAGES["kdfm_agent"] / "collect.py", ("kdfm_agent.uplink", "kdfm_agent.spool")),
    (PACKAGES["kdfm_agent"] / "model.py", ("kdfm_agent.", "kdfm_proto")),
]


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    # agent/kdfm_agent/snmp/session.py -> kdfm_agent.snmp (the first folder is not a package).
    package = ".".join(path.relative_to(ROOT).parts[1:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:
                yield node.lineno, f"{name}.{alias.name}"


def python_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(path.rglob("*.py")) if path.exists() else []


@pytest.mark.parametrize(("where", "forbidden"), RULES,
                         ids=[str(r[0].relative_to(ROOT)) for r in RULES])
def test_layer_boundaries(where: Path, forbidden: tuple[str, ...]) -> None:
    violations = [
        f"{file.relative_to(ROOT)}:{line} imports {name}"
        for file in python_files(where)
        for line, name in imported_modules(file)
        if any(name == f.rstrip(".") or name.startswith(f if f.endswith(".") else f + ".")
               for f in forbidden)
    ]
    assert not violations, "\n".join(violations)


def test_the_rules_see_real_code() -> None:
    # A rule over an empty tree proves nothing: the three packages must have code to check.
    for package, path in PACKAGES.items():
        assert python_files(path), f"{package} has no Python files"


def test_relative_imports_resolve_to_their_package() -> None:
    wire = PACKAGES["kdfm_agent"] / "wire.py"
    names = {name for _, name in imported_modules(wire)}
    assert "kdfm_agent.model" in names
    assert "kdfm_proto.v1.reading_pb2" in names
