"""tests/tfma/: TensorFlow Model Analysis 0.46.0 over estimator_ext's exports.

These tests run only in the TFMA venv, ``.venv-tfma``, made and run by ``make test-tfma``
(``-m tfma``; TFMA needs the full ``tensorflow`` package and about 3 GB of pipeline
dependencies that the main venv does not have). tests/conftest.py marks every test here
``tfma``, and ``make test`` deselects them (``-m "not tfma and not package"``). In a venv
without TFMA their modules, which import it, are not even imported (below): so collecting
tests/ there works and deselection by marker is enough, and ``make test-tfma`` in a broken
venv fails as "no tests collected" instead of passing. With TFMA installed nothing here is
left out or skipped.
"""

import importlib.util
import os

import pytest

if importlib.util.find_spec("tensorflow_model_analysis") is None:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def data_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The seeded rows as a TFRecord of tf.Examples, written once (tfma_support)."""
    from tests.support import tfma_support  # imports TFMA: only once tests are collected

    return tfma_support.write_examples(os.fspath(tmp_path_factory.mktemp("data") / "rows.tfrecord"))
