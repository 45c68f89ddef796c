"""s3:// where no tensorflow-io release serves it: a clear error at once, nothing written.

tensorflow-io's last release, 0.37.1, serves ``s3://`` on TensorFlow 2.16 and 2.17 and has no
wheel for Python 3.13 (estimator_ext/storage/s3.py has what was measured). Elsewhere an export
to ``s3://`` must fail before it does anything, with an error that says why and names the
last TensorFlow that has ``s3://``, instead of TensorFlow's bare ``File system scheme 's3' not
implemented``. The reason is pure (no TensorFlow), so it is checked for every minor here; the
export is checked on the TensorFlow this suite runs on, where that has no ``s3://``.
"""

from __future__ import annotations

import pytest

from estimator_ext.storage.s3 import S3_LAST_TENSORFLOW, s3_unavailable_reason


@pytest.mark.parametrize(
    ("tensorflow", "python"),
    [("2.12.0", (3, 9)), ("2.15.1", (3, 11)), ("2.16.2", (3, 12)), ("2.17.1", (3, 11))],
)
def test_s3_is_available_up_to_tensorflow_2_17_on_python_up_to_3_12(tensorflow, python):
    assert S3_LAST_TENSORFLOW == (2, 17)
    assert s3_unavailable_reason(tensorflow, python) is None


@pytest.mark.parametrize("tensorflow", ["2.18.1", "2.19.1", "2.20.0", "2.21.0"])
def test_after_tensorflow_2_17_the_reason_names_the_last_minor_and_the_fix(tensorflow):
    reason = s3_unavailable_reason(tensorflow, (3, 11))
    assert reason is not None
    assert f"no tensorflow-io release works with TensorFlow {tensorflow}" in reason
    assert "0.37.1" in reason and "TensorFlow up to 2.17" in reason
    assert "gs://" in reason and "pip install 'estimator-ext[cpu-tf217]'" in reason


def test_on_python_3_13_the_reason_says_tensorflow_io_has_no_wheel_there():
    reason = s3_unavailable_reason("2.17.1", (3, 13))
    assert reason is not None
    assert "no tensorflow-io release installs on Python 3.13" in reason
    assert "Python up to 3.12" in reason and "gs://" in reason


def test_an_export_to_s3_fails_at_once_here_and_writes_nothing(tmp_path, monkeypatch):
    import tensorflow as tf

    import estimator_ext
    from tests.support import data

    reason = s3_unavailable_reason(tf.__version__)
    if reason is None:
        pytest.skip(
            f"TensorFlow {tf.__version__} has s3:// through tensorflow-io: "
            "tests/storage/test_filesystems.py exports there"
        )
    model_dir = tmp_path / "model"
    estimator = tf.estimator.Estimator(data.make_model_fn(), model_dir=str(model_dir))
    estimator.train(data.input_fn(data.TARGET), steps=1)
    tf.compat.v1.summary.FileWriterCache.clear()
    before = data.listing(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # a relative "s3:" folder would show up here

    with pytest.raises(tf.errors.UnimplementedError) as raised:
        estimator_ext.export_all_saved_models(
            estimator, "s3://a-bucket/exports", data.receiver_map(tf.float32)
        )

    assert reason in str(raised.value.message), raised.value.message
    assert data.listing(str(tmp_path)) == before
