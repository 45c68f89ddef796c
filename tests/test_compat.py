"""Version guards: TensorFlow 2.12-2.21 and Python 3.9-3.13, each checked on its own, and a
message saying what to install outside them."""

import subprocess
import sys

import pytest

from estimator_ext import _versions

NEWEST_INSTALL = "pip install 'estimator-ext[tf221]'"
LAST_WITH_ESTIMATOR_INSTALL = "pip install 'tensorflow-cpu==2.15.1' 'tensorflow-estimator==2.15.0'"


@pytest.mark.parametrize("version", ["2.22.0", "2.30.1", "3.0.0"])
def test_tensorflow_newer_than_tested_is_refused_with_the_fix(version):
    with pytest.raises(
        ImportError, match=f"TensorFlow 2.12 to 2.21, found TensorFlow {version}, which is newer"
    ) as info:
        _versions.check_tensorflow(version)
    assert NEWEST_INSTALL in str(info.value) and "TF_USE_LEGACY_KERAS=1" in str(info.value)
    assert LAST_WITH_ESTIMATOR_INSTALL in str(info.value)


@pytest.mark.parametrize("version", ["2.11.1", "2.4.0", "1.15.5"])
def test_tensorflow_older_than_2_12_is_refused_with_the_fix(version):
    with pytest.raises(
        ImportError, match=f"needs TensorFlow 2.12 to 2.21, found TensorFlow {version}.*Upgrade"
    ) as info:
        _versions.check_tensorflow(version)
    assert NEWEST_INSTALL in str(info.value) and LAST_WITH_ESTIMATOR_INSTALL in str(info.value)
    assert "estimator-ext[cpu-tf212]" in str(info.value)


@pytest.mark.parametrize(
    "version",
    ["2.12.0", "2.12.1", "2.13.1", "2.14.0", "2.15.0", "2.15.1", "2.15.0.post1"]
    + ["2.16.1", "2.16.2", "2.17.1", "2.18.1", "2.19.1", "2.20.0", "2.21.0", "2.21.0rc1"],
)
def test_every_supported_tensorflow_passes(version):
    _versions.check_tensorflow(version)


def _setup_py_table(name):
    import ast
    import pathlib

    setup_tree = ast.parse((pathlib.Path(__file__).resolve().parents[1] / "setup.py").read_text())
    return next(
        ast.literal_eval(node.value)
        for node in ast.walk(setup_tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name
    )


def test_the_stacks_cover_exactly_the_supported_range_and_match_setup_py_extras():
    low, high = _versions.SUPPORTED_TENSORFLOW
    assert sorted(_versions.STACK_BY_TENSORFLOW) == [
        (2, minor) for minor in range(low[1], high[1] + 1)
    ]
    older, newer = _setup_py_table("OLDER_TENSORFLOW"), _setup_py_table("NEWER_TENSORFLOW")
    s3_after_2_15 = _setup_py_table("S3_AFTER_2_15")
    for (major, minor), stack in _versions.STACK_BY_TENSORFLOW.items():
        name = f"tf{major}{minor}"
        assert stack.tensorflow.startswith(f"{major}.{minor}.")
        assert stack.keras.startswith(f"{major}.{minor}.")  # keras, then tf-keras, per minor
        if (major, minor) <= _versions.LAST_WITH_ESTIMATOR:
            assert stack.tensorflow_estimator == f"{major}.{minor}.0"
        else:  # the last tensorflow-estimator, on the minors without tf.estimator
            assert stack.tensorflow_estimator == "2.15.0"
            assert newer[name] == (stack.tensorflow, stack.keras)
            assert stack.tensorflow_io == s3_after_2_15.get(name, "")
            assert (f"s3-{name}" in stack.extras) == bool(stack.tensorflow_io)
        if (major, minor) < _versions.LAST_WITH_ESTIMATOR:
            assert older[name] == (
                stack.tensorflow,
                stack.tensorflow_estimator,
                stack.keras,
                stack.tensorflow_io,
            )


def test_the_running_tensorflow_is_paired_with_its_own_estimator_and_keras():
    from importlib import metadata

    import tensorflow as tf

    minor = tuple(int(part) for part in tf.__version__.split(".")[:2])
    stack = _versions.STACK_BY_TENSORFLOW[minor]
    assert metadata.version("tensorflow-estimator") == stack.tensorflow_estimator
    keras = "keras" if minor <= _versions.LAST_WITH_ESTIMATOR else "tf-keras"
    assert metadata.version(keras).split(".")[:2] == stack.keras.split(".")[:2]


@pytest.mark.parametrize("version_info", [(3, 8, 18), (3, 14, 0), (2, 7, 18)])
def test_unsupported_python_is_refused(version_info):
    with pytest.raises(
        ImportError,
        match=f"supports Python 3.9 to 3.13 .*this is Python {version_info[0]}.{version_info[1]}",
    ) as info:
        _versions.check_python(version_info)
    assert "Create a virtual environment with Python 3.9 to 3.13" in str(info.value)


def test_supported_versions_pass():
    _versions.check_tensorflow("2.15.1")
    _versions.check_tensorflow("2.21.0")
    for minor in range(9, 14):
        _versions.check_python((3, minor, 0))


def test_importing_the_package_does_not_import_tensorflow():
    code = (
        "import sys, estimator_ext; print('tensorflow' in sys.modules); "
        "estimator_ext.ExportResult; print('tensorflow' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert output.split() == ["False", "False"]  # ExportResult is plain Python too
