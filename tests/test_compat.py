"""Version guards: a clear message for TensorFlow 2.16+ (no tf.estimator) and unsupported Pythons."""

import subprocess
import sys

import pytest

from estimator_ext import _versions


@pytest.mark.parametrize("version", ["2.16.1", "2.17.0", "3.0.0"])
def test_tensorflow_without_estimator_is_refused_with_the_fix(version):
    with pytest.raises(ImportError, match="TensorFlow 2.16 and later no longer ship tf.estimator") as info:
        _versions.check_tensorflow(version)
    assert "pip install 'tensorflow-cpu==2.15.1' 'tensorflow-estimator==2.15.0'" in str(info.value)


def test_older_tensorflow_is_refused():
    with pytest.raises(ImportError, match="found TensorFlow 2.14.0.*Upgrade"):
        _versions.check_tensorflow("2.14.0")


@pytest.mark.parametrize("version_info", [(3, 8, 18), (3, 12, 1)])
def test_unsupported_python_is_refused(version_info):
    with pytest.raises(ImportError, match=f"this is Python {version_info[0]}.{version_info[1]}.*3.9, 3.10 or 3.11"):
        _versions.check_python(version_info)


def test_supported_versions_pass():
    _versions.check_tensorflow("2.15.1")
    _versions.check_python((3, 9, 0))
    _versions.check_python((3, 11, 7))


def test_importing_the_package_does_not_import_tensorflow():
    code = "import sys, estimator_ext; print('tensorflow' in sys.modules); estimator_ext.ExportResult; print('tensorflow' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert output.split() == ["False", "False"]  # ExportResult is plain Python too
