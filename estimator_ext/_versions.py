"""The Python and TensorFlow versions estimator_ext supports, checked without importing TF.

The range is TensorFlow 2.12 to 2.21 and Python 3.9 to 3.13, each checked on its own (2.11
and older have no wheels in the registries we install from; which Python has wheels of which
TensorFlow is pip's business, and docs/versions.md shows which combinations the nox matrix
last ran). TensorFlow 2.12-2.15 ship ``tf.estimator``; 2.16-2.21 no longer do, and run the last
tensorflow-estimator, 2.15.0, under the legacy Keras (tf-keras), through the stand-ins that
``import estimator_ext`` registers (``estimator_ext/_tf_private/import_hook.py``). Each
TensorFlow minor pairs with its own tensorflow-estimator, Keras and tensorflow-io release:
:data:`STACK_BY_TENSORFLOW`.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

#: This release of estimator_ext (``estimator_ext.__version__``; setup.py reads it from here).
VERSION = "0.1.0"

SUPPORTED_PYTHON = ((3, 9), (3, 13))
SUPPORTED_TENSORFLOW = ((2, 12), (2, 21))
#: The last TensorFlow minor that ships ``tf.estimator`` (and the default stack).
LAST_WITH_ESTIMATOR = (2, 15)


class Stack(NamedTuple):
    """The releases that go with one TensorFlow minor, and the extras that install them."""

    tensorflow: str
    tensorflow_estimator: str
    keras: str  # keras up to TensorFlow 2.15; tf-keras (the legacy Keras 2) from 2.16
    tensorflow_io: str  # "" where no tensorflow-io release serves s3:// (TensorFlow 2.18+)
    extras: str  # pip extras of estimator-ext: CPU build, GPU-capable build, s3://


#: The tested release of each supported TensorFlow minor and what pairs with it. The
#: tensorflow-io pairs are the ones each tensorflow-io wheel's own metadata pins; 0.37.1, the
#: last release, is built for TensorFlow 2.16 and serves s3:// on 2.17 too (setup.py's
#: S3_AFTER_2_15, estimator_ext/storage/s3.py). From 2.16 the keras column is tf-keras.
#: Keep in step with setup.py's extras and the constraints/tf2.*.txt files.
STACK_BY_TENSORFLOW: dict[tuple[int, int], Stack] = {
    (2, 12): Stack("2.12.0", "2.12.0", "2.12.0", "0.32.0", "cpu-tf212 | tf212, s3-tf212"),
    (2, 13): Stack("2.13.1", "2.13.0", "2.13.1", "0.34.0", "cpu-tf213 | tf213, s3-tf213"),
    (2, 14): Stack("2.14.1", "2.14.0", "2.14.0", "0.35.0", "cpu-tf214 | tf214, s3-tf214"),
    (2, 15): Stack("2.15.1", "2.15.0", "2.15.0", "0.36.0", "cpu | tf, s3"),
    (2, 16): Stack("2.16.2", "2.15.0", "2.16.0", "0.37.1", "cpu-tf216 | tf216, s3-tf216"),
    (2, 17): Stack("2.17.1", "2.15.0", "2.17.0", "0.37.1", "cpu-tf217 | tf217, s3-tf217"),
    (2, 18): Stack("2.18.1", "2.15.0", "2.18.0", "", "cpu-tf218 | tf218"),
    (2, 19): Stack("2.19.1", "2.15.0", "2.19.0", "", "cpu-tf219 | tf219"),
    (2, 20): Stack("2.20.0", "2.15.0", "2.20.1", "", "cpu-tf220 | tf220"),
    (2, 21): Stack("2.21.0", "2.15.0", "2.21.0", "", "cpu-tf221 | tf221"),
}

NEWEST = STACK_BY_TENSORFLOW[SUPPORTED_TENSORFLOW[1]]
LAST_ESTIMATOR_STACK = STACK_BY_TENSORFLOW[LAST_WITH_ESTIMATOR]
_NEWEST_EXTRA = "tf" + "".join(str(part) for part in SUPPORTED_TENSORFLOW[1])
_INSTALL_CHOICES = (
    f"the newest tested, TensorFlow {NEWEST.tensorflow} with tensorflow-estimator "
    f"{NEWEST.tensorflow_estimator} and tf-keras {NEWEST.keras}: pip install "
    f"'estimator-ext[{_NEWEST_EXTRA}]' (then set TF_USE_LEGACY_KERAS=1 for the canned "
    f"estimators); or the last TensorFlow with tf.estimator built in, TensorFlow "
    f"{LAST_ESTIMATOR_STACK.tensorflow}: pip install 'tensorflow-cpu=="
    f"{LAST_ESTIMATOR_STACK.tensorflow}' 'tensorflow-estimator=="
    f"{LAST_ESTIMATOR_STACK.tensorflow_estimator}', i.e. pip install 'estimator-ext[cpu]'"
)


def _range_text(bounds: tuple[tuple[int, int], tuple[int, int]]) -> str:
    (low_major, low_minor), (high_major, high_minor) = bounds
    return f"{low_major}.{low_minor} to {high_major}.{high_minor}"


def check_python(version_info: tuple[Any, ...] = sys.version_info) -> None:
    """Raises ImportError naming the fix unless this is Python 3.9 to 3.13."""
    low, high = SUPPORTED_PYTHON
    if not low <= tuple(version_info[:2]) <= high:
        supported = _range_text(SUPPORTED_PYTHON)
        raise ImportError(
            f"estimator_ext supports Python {supported} (the versions TensorFlow "
            f"{_range_text(SUPPORTED_TENSORFLOW)} ship wheels for); this is Python "
            f"{version_info[0]}.{version_info[1]}. Create a virtual environment with Python "
            f"{supported}: 3.9-3.11 for any supported TensorFlow, 3.12 for TensorFlow 2.16 and "
            "later, 3.13 for TensorFlow 2.20 and later."
        )


def check_tensorflow(version: str) -> None:
    """Raises ImportError naming what to install unless ``version`` is TensorFlow 2.12-2.21."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:  # pragma: no cover - exotic local builds
        return
    low, high = SUPPORTED_TENSORFLOW
    needs = f"estimator_ext needs TensorFlow {_range_text(SUPPORTED_TENSORFLOW)}"
    if (major, minor) > high:
        raise ImportError(
            f"{needs}, found TensorFlow {version}, which is newer than any it was tested with "
            f"(tf.estimator's stand-ins may not fit it). Install {_INSTALL_CHOICES}."
        )
    if (major, minor) < low:
        raise ImportError(
            f"{needs}, found TensorFlow {version}. Upgrade to {_INSTALL_CHOICES}; or keep an "
            "older pipeline on 2.12: pip install 'estimator-ext[cpu-tf212]'."
        )
