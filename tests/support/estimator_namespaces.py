"""``tf.estimator`` and ``tf.compat.v1.estimator`` for the tests, on TensorFlow 2.16 and later.

The tests and their helpers are written against ``tf.estimator``, as users' code is, and
TensorFlow 2.16 and later lack it. :func:`give_tensorflow_its_estimator_namespaces` sets the
very namespaces ``estimator_ext.patch()`` would restore
(estimator_ext.patching.estimator_namespace), once per process and never recorded, so that
``patch()`` finds them present and leaves them; on TensorFlow 2.12-2.15 it changes nothing.

:func:`register` makes it a post-import hook of ``tensorflow`` (run at once when TensorFlow
is imported already). ``tests.support`` registers it on import, so the pytest process
(tests/conftest.py) and every child that runs a test module or helper as a script
(``python tests/storage/test_filesystems.py store-child ...``) get the namespaces alike.
Tests of ``patch()`` restoring them itself run in a fresh interpreter that imports nothing
from ``tests`` (tests/newest_tf/).
"""

from __future__ import annotations

from typing import Any

import wrapt


def give_tensorflow_its_estimator_namespaces(tf_module: Any) -> None:
    """``tf.estimator`` and ``tf.compat.v1.estimator`` where TensorFlow lacks them (2.16+)."""
    from estimator_ext.patching import estimator_namespace

    owners = {"tf.estimator": tf_module, "tf.compat.v1.estimator": tf_module.compat.v1}
    namespaces = estimator_namespace.build_estimator_namespaces()
    for name, owner in owners.items():
        if not hasattr(owner, "estimator"):
            owner.estimator = namespaces[name]


def tensorflow_lacks_estimator() -> bool:
    """Whether the running TensorFlow ships no ``tf.estimator`` (2.16 and later)."""
    import tensorflow as tf

    return tuple(int(part) for part in tf.__version__.split(".")[:2]) >= (2, 16)


def register() -> None:
    """Runs :func:`give_tensorflow_its_estimator_namespaces` once TensorFlow is imported."""
    wrapt.register_post_import_hook(give_tensorflow_its_estimator_namespaces, "tensorflow")
