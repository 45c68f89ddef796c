"""The Python and TensorFlow versions estimator_ext supports, checked without importing TF.

The range is TensorFlow 2.12 to 2.15 (2.11 and older have no wheels in the registries we
install from; 2.16 and later no longer ship ``tf.estimator``) on Python 3.9 to 3.11 (the
versions all four TensorFlow minors ship wheels for). docs/versions.md shows which
combinations the nox matrix last ran. Each TensorFlow minor pairs with its own
tensorflow-estimator, keras and tensorflow-io release: :data:`STACK_BY_TENSORFLOW`.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

#: This release of estimator_ext (``estimator_ext.__version__``; setup.py reads it from here).
VERSION = "0.1.0"

SUPPORTED_PYTHON = ((3, 9), (3, 11))
SUPPORTED_TENSORFLOW = ((2, 12), (2, 15))


class Stack(NamedTuple):
    """The releases that go with one TensorFlow minor, and the extras that install them."""

    tensorflow: str
    tensorflow_estimator: str
    keras: str
    tensorflow_io: str
    extras: str  # pip extras of estimator-ext: CPU build, GPU-capable build, s3://


#: The tested release of each supported TensorFlow minor and what pairs with it. The
#: tensorflow-io pairs are the ones each tensorflow-io wheel's own metadata pins.
#: Keep in step with setup.py's extras and the constraints-tf2.*.txt files.
STACK_BY_TENSORFLOW: dict[tuple[int, int], Stack] = {
    (2, 12): Stack("2.12.0", "2.12.0", "2.12.0", "0.32.0", "cpu-tf212 | tf212, s3-tf212"),
    (2, 13): Stack("2.13.1", "2.13.0", "2.13.1", "0.34.0", "cpu-tf213 | tf213, s3-tf213"),
    (2, 14): Stack("2.14.1", "2.14.0", "2.14.0", "0.35.0", "cpu-tf214 | tf214, s3-tf214"),
    (2, 15): Stack("2.15.1", "2.15.0", "2.15.0", "0.36.0", "cpu | tf, s3"),
}

NEWEST = STACK_BY_TENSORFLOW[SUPPORTED_TENSORFLOW[1]]
_INSTALL_NEWEST = (
    f"pip install 'tensorflow-cpu=={NEWEST.tensorflow}' "
    f"'tensorflow-estimator=={NEWEST.tensorflow_estimator}' "
    f"(or 'tensorflow=={NEWEST.tensorflow}'), i.e. pip install 'estimator-ext[cpu]'"
)


def check_python(version_info: tuple[Any, ...] = sys.version_info) -> None:
    """Raises ImportError naming the fix unless this is Python 3.9, 3.10 or 3.11."""
    low, high = SUPPORTED_PYTHON
    if not low <= tuple(version_info[:2]) <= high:
        raise ImportError(
            "estimator_ext supports Python 3.9 to 3.11 (the versions TensorFlow 2.12-2.15 "
            f"ship wheels for); this is Python {version_info[0]}.{version_info[1]}. "
            "Create a virtual environment with Python 3.9, 3.10 or 3.11."
        )


def check_tensorflow(version: str) -> None:
    """Raises ImportError naming what to install unless ``version`` is TensorFlow 2.12-2.15."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:  # pragma: no cover - exotic local builds
        return
    low, high = SUPPORTED_TENSORFLOW
    if (major, minor) > high:
        raise ImportError(
            f"estimator_ext needs TensorFlow 2.12 to 2.15, found TensorFlow {version}. "
            "TensorFlow 2.16 and later no longer ship tf.estimator, so there is "
            f"nothing to export from. Install the last release that has it: {_INSTALL_NEWEST}."
        )
    if (major, minor) < low:
        raise ImportError(
            f"estimator_ext needs TensorFlow 2.12 to 2.15, found TensorFlow {version}. "
            f"Upgrade with: {_INSTALL_NEWEST}; or keep an older pipeline on 2.12: "
            "pip install 'estimator-ext[cpu-tf212]'."
        )
