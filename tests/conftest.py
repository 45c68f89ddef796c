"""Fixtures shared by the whole suite.

TensorFlow and tests/support.py are imported inside the fixtures, not at import time, so
collecting a suite that needs none of them (tests/tfma/ in its own venv) does not load them.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def trained_linear_classifier(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A ``tf.estimator.LinearClassifier`` on tests/support.py's mixed data, trained 20 steps.

    Shared by every test of the session, so treat it as read-only: export from it, predict
    and evaluate with it, but never train it further or write into its ``model_dir``
    (train an estimator of your own for that).
    """
    import tensorflow as tf

    from tests import support

    model_dir = str(tmp_path_factory.mktemp("trained_linear_classifier"))
    estimator = tf.estimator.LinearClassifier(support.feature_columns(), model_dir=model_dir)
    estimator.train(support.input_fn(), steps=20)
    # Close the cached summary writers: their background flush would touch model_dir later.
    tf.compat.v1.summary.FileWriterCache.clear()
    return estimator
