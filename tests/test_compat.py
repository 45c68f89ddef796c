"""Version guards: a clear message for TensorFlow 2.16+ (no tf.estimator) and unsupported
Pythons."""

import subprocess
import sys

import pytest

from estimator_ext import _versions


@pytest.mark.parametrize("version", ["2.16.1", "2.17.0", "3.0.0"])
def test_tensorflow_without_estimator_is_refused_with_the_fix(version):
    with pytest.raises(
        ImportError, match="TensorFlow 2.16 and later no longer ship tf.estimator"
    ) as info:
        _versions.check_tensorflow(version)
    assert "pip install 'tensorflow-cpu==2.15.1' 'tensorflow-estimator==2.15.0'" in str(info.value)


@pytest.mark.parametrize("version", ["2.11.1", "2.4.0", "1.15.5"])
def test_tensorflow_older_than_2_12_is_refused_with_the_fix(version):
    with pytest.raises(
        ImportError, match=f"needs TensorFlow 2.12 to 2.15, found TensorFlow {version}.*Upgrade"
    ) as info:
        _versions.check_tensorflow(version)
    assert "pip install 'tensorflow-cpu==2.15.1' 'tensorflow-estimator==2.15.0'" in str(info.value)
    assert "estimator-ext[cpu-tf212]" in str(info.value)


@pytest.mark.parametrize(
    "version", ["2.12.0", "2.12.1", "2.13.1", "2.14.0", "2.15.0", "2.15.1", "2.15.0.post1"]
)
def test_every_supported_tensorflow_passes(version):
    _versions.check_tensorflow(version)


def test_the_stacks_cover_exactly_the_supported_range_and_match_setup_py_extras():
    import ast
    import pathlib

    low, high = _versions.SUPPORTED_TENSORFLOW
    assert sorted(_versions.STACK_BY_TENSORFLOW) == [
        (2, minor) for minor in range(low[1], high[1] + 1)
    ]
    setup_tree = ast.parse((pathlib.Path(__file__).resolve().parents[1] / "setup.py").read_text())
    older = next(
        ast.literal_eval(node.value)
        for node in ast.walk(setup_tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "OLDER_TENSORFLOW"
    )
    for (major, minor), stack in _versions.STACK_BY_TENSORFLOW.items():
        assert stack.tensorflow.startswith(f"{major}.{minor}.")
        assert stack.tensorflow_estimator == f"{major}.{minor}.0"
        if (major, minor) != high:
            assert older[f"tf{major}{minor}"] == (
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
    assert metadata.version("keras").split(".")[:2] == stack.keras.split(".")[:2]


@pytest.mark.parametrize("version_info", [(3, 8, 18), (3, 12, 1)])
def test_unsupported_python_is_refused(version_info):
    with pytest.raises(
        ImportError, match=f"this is Python {version_info[0]}.{version_info[1]}.*3.9, 3.10 or 3.11"
    ):
        _versions.check_python(version_info)


def test_supported_versions_pass():
    _versions.check_tensorflow("2.15.1")
    _versions.check_python((3, 9, 0))
    _versions.check_python((3, 11, 7))


def test_importing_the_package_does_not_import_tensorflow():
    code = (
        "import sys, estimator_ext; print('tensorflow' in sys.modules); "
        "estimator_ext.ExportResult; print('tensorflow' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert output.split() == ["False", "False"]  # ExportResult is plain Python too
