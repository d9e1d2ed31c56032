"""The CRDs, read from the kdfm-crds chart: the one copy that Helm, the operator and tests share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

GROUP = "fleet.kdfm.io"
VERSION = "v1alpha1"
KINDS = ("Tenant", "VaultCertificate", "Broker")


@dataclass(frozen=True)
class Crd:
    """One custom resource definition as the operator needs it."""

    kind: str
    plural: str
    group: str
    version: str
    schema: dict[str, Any]
    document: dict[str, Any]


def load_crds(crd_dir: Path) -> dict[str, Crd]:
    """Load every CRD in the directory, by kind; a missing kind is an error named by kind."""
    if not crd_dir.is_dir():
        raise FileNotFoundError(
            f"CRD directory {crd_dir} does not exist (set KDFM_OPERATOR_CRD_DIR)"
        )
    found: dict[str, Crd] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            version = next(v for v in spec["versions"] if v.get("storage"))
            kind = spec["names"]["kind"]
            found[kind] = Crd(
                kind=kind,
                plural=spec["names"]["plural"],
                group=spec["group"],
                version=version["name"],
                schema=version["schema"]["openAPIV3Schema"],
                document=doc,
            )
    missing = [k for k in KINDS if k not in found]
    if missing:
        raise ValueError(f"CRD directory {crd_dir} lacks the CRD of {', '.join(missing)}")
    return found
