"""The Python and TensorFlow versions estimator_ext supports, checked without importing TF."""

from __future__ import annotations

import sys

SUPPORTED_PYTHON = ((3, 9), (3, 11))


def check_python(version_info=sys.version_info) -> None:
    low, high = SUPPORTED_PYTHON
    if not low <= tuple(version_info[:2]) <= high:
        raise ImportError(
            "estimator_ext supports Python 3.9 to 3.11 (the versions TensorFlow 2.15 "
            f"ships wheels for); this is Python {version_info[0]}.{version_info[1]}. "
            "Create a virtual environment with Python 3.9, 3.10 or 3.11."
        )


def check_tensorflow(version: str) -> None:
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:  # pragma: no cover - exotic local builds
        return
    if (major, minor) >= (2, 16):
        raise ImportError(
            f"estimator_ext needs TensorFlow 2.15, found TensorFlow {version}. "
            "TensorFlow 2.16 and later no longer ship tf.estimator, so there is "
            "nothing to export from. Install the last release that has it: "
            "pip install 'tensorflow-cpu==2.15.1' 'tensorflow-estimator==2.15.0' "
            "(or 'tensorflow==2.15.1')."
        )
    if (major, minor) < (2, 15):
        raise ImportError(
            f"estimator_ext needs TensorFlow 2.15, found TensorFlow {version}. "
            "Upgrade with: pip install 'tensorflow-cpu==2.15.1' 'tensorflow-estimator==2.15.0'."
        )
