"""Generate kdfm_proto from protos/kdfm/v1/*.proto, or check that the committed code is current.

protoc names generated modules after the .proto path (kdfm.v1); the import lines are rewritten so
the package is kdfm_proto.v1 and cannot clash with anything else called "kdfm".
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT = ROOT / "protos" / "python" / "kdfm_proto" / "v1"
IMPORT = re.compile(r"^from kdfm\.v1 import ", re.MULTILINE)


def generate(into: Path) -> dict[str, bytes]:
    protos = (PROTO_ROOT / "kdfm" / "v1").glob("*.proto")
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in protos)
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={into}",
            f"--pyi_out={into}", f"--grpc_python_out={into}", *sources]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on " + " ".join(sources))
    files: dict[str, bytes] = {}
    for path in sorted((into / "kdfm" / "v1").iterdir()):
        text = IMPORT.sub("from kdfm_proto.v1 import ", path.read_text())
        files[path.name] = text.encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="fail when the committed code is stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
    current = {p.name: p.read_bytes() for p in OUT.glob("*_pb2*.py*")}
    if check:
        stale = sorted(set(fresh) ^ set(current) | {n for n in fresh if current.get(n) != fresh[n]})
        if stale:
            print("kdfm_proto is stale, run `make protos`: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name in set(current) - set(fresh):
        (OUT / name).unlink()
    for name, data in fresh.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(fresh)} files to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
