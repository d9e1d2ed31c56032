"""The operator package must not shadow the standard library's `operator` in the venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_operator_is_the_standard_library() -> None:
    python = REPO / ".venv" / "bin" / "python"
    interpreter = str(python) if python.exists() else sys.executable
    result = subprocess.run([interpreter, "-c", "import operator; print(operator.__file__)"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    module_file = Path(result.stdout.strip()).resolve()
    stdlib = Path(subprocess.run(
        [interpreter, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True, text=True, timeout=60, check=True).stdout.strip()).resolve()
    assert module_file.parent == stdlib, f"operator imported from {module_file}"
