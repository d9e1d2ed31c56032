"""`kdfm-operator crds`: print the CRDs (from the kdfm-crds chart, their one source) as YAML."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml


def register(subparsers: Any) -> None:
    """Add the `crds` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "crds", help="print the CustomResourceDefinitions, e.g. for `kubectl apply -f -`"
    )
    parser.set_defaults(func=print_crds)


def print_crds(args: argparse.Namespace) -> int:
    """Write every CRD to stdout as one multi-document YAML stream."""
    from kdfm_operator.crds import load_crds  # noqa: PLC0415
    from kdfm_operator.settings import OperatorSettings  # noqa: PLC0415

    crds = load_crds(OperatorSettings.from_env().crd_dir)
    sys.stdout.write(yaml.safe_dump_all([crds[k].document for k in sorted(crds)], sort_keys=False))
    return 0
