"""``estimator-ext --version`` prints the package version, exits 0 and loads no TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import estimator_ext


def test_version_option_prints_the_version_without_importing_tensorflow() -> None:
    code = (
        "import sys\n"
        "from estimator_ext.cli import main\n"
        "try:\n"
        "    status = main(['--version'])\n"
        "finally:\n"
        "    print('tensorflow' in sys.modules, file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == f"estimator-ext {estimator_ext.__version__}"
    assert child.stderr.strip().splitlines()[-1] == "False"
