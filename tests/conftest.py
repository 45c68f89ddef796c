"""Fixtures shared by the whole suite.

``never_leave_patched`` (TF-free) guards every test. TensorFlow and tests/support.py are
imported inside the other fixtures, not at import time, so collecting a suite that needs
none of them does not load them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from estimator_ext import patching


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "patches: the test patches estimator_ext on purpose and may end patched; "
        "never_leave_patched unpatches after it instead of failing it",
    )


@pytest.fixture(autouse=True)
def never_leave_patched(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts unpatched and leaves estimator_ext unpatched (TF-free, so for all).

    A test that ends patched fails (e.g. the CLI's ``run`` must restore the patch), unless
    it is marked ``@pytest.mark.patches`` (a module can set ``pytestmark``): such tests call
    ``estimator_ext.patch()`` themselves, and this fixture unpatches after them. Either way
    the next test starts clean.
    """
    if patching.is_patched():
        restored = patching.unpatch()
        pytest.fail(
            f"estimator_ext was already patched when {request.node.nodeid} started ("
            f"{len(restored)} changes, left by a fixture?); unpatched it."
        )
    yield
    if patching.is_patched():
        patching.unpatch()
        if request.node.get_closest_marker("patches") is None:
            pytest.fail(
                f"{request.node.nodeid} left estimator_ext patched (unpatched it now). Use "
                "`with estimator_ext.patched():`, or mark a test that patches on purpose "
                "with @pytest.mark.patches."
            )


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
