"""Fixtures shared by the whole suite.

``never_leave_patched`` (TF-free) guards every test. The trained models below are built
once per test run and shared; TensorFlow and tests/support/ are imported inside those
fixtures, not at import time, so collecting a suite that needs none of them does not load
them.

On TensorFlow 2.16 and later, which have no ``tf.estimator``, the suite (written against
``tf.estimator``, as users' code is) gets the two namespaces ``estimator_ext.patch()`` would
restore, for the whole run, by the import of ``tests.support`` below
(:mod:`tests.support.estimator_namespaces`, a post-import hook that changes nothing on
TensorFlow 2.12-2.15; children that import a helper of ``tests.support`` get it too).
``import estimator_ext`` (by the import of ``patching`` below) has made tensorflow-estimator
importable. Tests of ``patch()`` restoring them itself run in a fresh interpreter
(tests/newest_tf/).
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

import tests.support  # noqa: F401  (tf.estimator on TensorFlow 2.16+: see the module doc)
from estimator_ext import patching

#: Folder of tests/ -> the marker each of its tests gets, so that a run selects or leaves
#: them out with ``-m`` (markers declared in pyproject.toml): ``make test`` runs
#: ``-m "not tfma and not package"``, ``make test-tfma`` ``-m tfma``, and nox's corner
#: sessions also leave out ``reliability`` and ``distributed``.
MARKER_BY_FOLDER = {"tfma": "tfma", "reliability": "reliability", "distributed": "distributed"}
TESTS_DIR = pathlib.Path(__file__).resolve().parent


#: Modules run first: the object-store reliability tests take minutes (test_store_faults, one
#: test per store, s3:// and gs://) mostly waiting on store timeouts, not on the CPU. Under
#: ``make test``'s ``-n 2 --dist worksteal`` (pytest-xdist) the first worker starts them at
#: once and the other worker takes the rest, stealing all but the few tests queued behind
#: them, which are test_s3_settings' quick ones; so the waits overlap with CPU-bound tests.
FIRST_MODULES = (
    "reliability/test_store_faults.py",
    "reliability/test_s3_settings.py",
    "reliability/test_store_",
)


def _first_rank(item: pytest.Item) -> int:
    relative = item.path.resolve().relative_to(TESTS_DIR).as_posix()
    for rank, prefix in enumerate(FIRST_MODULES):
        if relative.startswith(prefix):
            return rank
    return len(FIRST_MODULES)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    inside = []
    for item in items:
        try:
            folder = item.path.resolve().relative_to(TESTS_DIR).parts[0]
        except ValueError:  # a test outside tests/
            continue
        inside.append(item)
        if folder in MARKER_BY_FOLDER:
            item.add_marker(MARKER_BY_FOLDER[folder])
    if len(inside) == len(items):  # a stable sort: modules keep their own order
        items.sort(key=_first_rank)


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


# --- trained models, each built once per test run (per xdist worker) -------------------------
#
# Shared by every test of the session, so treat them as read-only: export from them, predict
# and evaluate with them, build another estimator over their ``model_dir``, but never train
# them further or write into their ``model_dir`` (train an estimator of your own for that).


def _close_summary_writers() -> None:
    """Closes TF's cached summary writers: their background flush would touch model_dir later."""
    import tensorflow as tf

    tf.compat.v1.summary.FileWriterCache.clear()


@pytest.fixture(scope="session")
def trained_linear_classifier(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A ``tf.estimator.LinearClassifier`` on tests/support/data.py's mixed data, trained 20
    steps on the binary label."""
    import tensorflow as tf

    from tests.support import data

    model_dir = str(tmp_path_factory.mktemp("trained_linear_classifier"))
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)
    estimator.train(data.input_fn(), steps=20)
    _close_summary_writers()
    return estimator


@pytest.fixture(scope="session")
def trained_linear_regressor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A ``tf.estimator.LinearRegressor`` on the mixed data, trained 10 steps on the float
    target."""
    import tensorflow as tf

    from tests.support import data

    model_dir = str(tmp_path_factory.mktemp("trained_linear_regressor"))
    estimator = tf.estimator.LinearRegressor(data.feature_columns(), model_dir=model_dir)
    estimator.train(data.input_fn(data.TARGET), steps=10)
    _close_summary_writers()
    return estimator


@pytest.fixture(scope="session")
def trained_custom_regressor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A ``tf.estimator.Estimator`` with tests/support/data.py's default custom ``model_fn``
    (``make_model_fn()``), trained 5 steps on the float target."""
    import tensorflow as tf

    from tests.support import data

    model_dir = str(tmp_path_factory.mktemp("trained_custom_regressor"))
    estimator = tf.estimator.Estimator(data.make_model_fn(), model_dir=model_dir)
    estimator.train(data.input_fn(data.TARGET), steps=5)
    _close_summary_writers()
    return estimator


@pytest.fixture(scope="session")
def trained_object_checkpoint_regressor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The custom ``model_fn`` with a ``tf.train.Checkpoint`` as its Scaffold's saver
    (``make_model_fn(saver="checkpoint")``), trained 5 steps on the float target."""
    import tensorflow as tf

    from tests.support import data

    model_dir = str(tmp_path_factory.mktemp("trained_object_checkpoint_regressor"))
    estimator = tf.estimator.Estimator(data.make_model_fn(saver="checkpoint"), model_dir=model_dir)
    estimator.train(data.input_fn(data.TARGET), steps=5)
    _close_summary_writers()
    return estimator


@pytest.fixture(scope="session")
def trained_subset_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """tests/support/subset_model.py's estimator with 16 embedding rows, trained 2 steps: a
    small checkpoint whose PREDICT graph needs a strict subset of it."""
    from tests.support import subset_model

    model_dir = str(tmp_path_factory.mktemp("trained_subset_model"))
    estimator = subset_model.make_estimator(model_dir, rows=16)
    subset_model.train(estimator)
    _close_summary_writers()
    return estimator
