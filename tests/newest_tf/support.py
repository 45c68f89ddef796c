"""What the tests of tests/newest_tf/ share: which side of TensorFlow 2.16 this is, and a
fresh interpreter with the checkout on its path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import estimator_namespaces

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBPROCESS_TIMEOUT = 300

#: TensorFlow 2.16 and later: no tf.estimator; tensorflow-estimator 2.15.0 runs on the stand-ins.
WITHOUT_BUILTIN_ESTIMATOR = estimator_namespaces.tensorflow_lacks_estimator()

only_newest = pytest.mark.skipif(
    not WITHOUT_BUILTIN_ESTIMATOR,
    reason="TensorFlow 2.16+ only: TensorFlow 2.12-2.15 have tf.estimator and its modules",
)
only_builtin = pytest.mark.skipif(
    WITHOUT_BUILTIN_ESTIMATOR,
    reason="TensorFlow 2.12-2.15 only: there TensorFlow has every module tf.estimator imports",
)


def run_fresh_python(code: str, cwd: str, **environment: str | None) -> subprocess.CompletedProcess:
    """Runs ``code`` in a new interpreter; ``environment`` adds (or, with None, removes)
    variables."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    for name, value in environment.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
