#!/bin/bash
# Build the wheelhouse of one kdfm version on the controller: kdfm's wheel and every wheel
# kdfm[agent] needs, with SHA256SUMS, so that sites without internet install from it.
# Usage: build_wheelhouse.sh PYTHON SOURCE_DIR WHEELHOUSE_DIR VERSION
# Built beside the target and renamed at the end, so a half-built wheelhouse is never used.
set -euo pipefail
python=$1 source=$2 target=$3 version=$4
partial="$target.partial.$$"
trap 'rm -rf "$partial"' EXIT
rm -rf "$partial"
mkdir -p "$(dirname "$target")"
"$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$partial" "$source[agent]"
if [ ! -f "$partial/kdfm-$version-py3-none-any.whl" ]; then
    echo "the source tree $source builds $(cd "$partial" && ls kdfm-*.whl), not kdfm $version:" \
         "set dca_agent_version to the tree's version or point dca_agent_source_dir elsewhere" >&2
    exit 1
fi
(cd "$partial" && sha256sum -- *.whl > SHA256SUMS)
rm -rf "$target"
mv "$partial" "$target"
