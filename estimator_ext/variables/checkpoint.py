"""Which checkpoint an export reads: the one given, the estimator's latest, or its warm start.

A directory stands for its latest checkpoint, a SavedModel directory for its variables;
errors say where we looked and what to pass instead."""

from __future__ import annotations

import logging
from typing import Any

import tensorflow as tf

from estimator_ext._tf_private import members as tf_private
from estimator_ext.storage import paths
from estimator_ext.storage.files import gfile
from estimator_ext.storage.stores import store_for

logger = logging.getLogger("estimator_ext")


def resolve_checkpoint(estimator: Any, checkpoint_path: str | None) -> str:
    """The checkpoint prefix to export from.

    ``checkpoint_path`` may be a prefix or a directory (its latest checkpoint is used).
    Without one, ``estimator.latest_checkpoint()`` (so subclasses that override it are
    honoured), then the estimator's warm-start checkpoint, as TF does.

    Raises:
      TypeError: ``checkpoint_path`` is not a non-empty string.
      ValueError: nothing found; the message says where we looked.
    """
    if checkpoint_path is not None:
        if not isinstance(checkpoint_path, (str, bytes)) or not checkpoint_path:
            raise TypeError(
                "checkpoint_path must be a checkpoint prefix or directory as a string, "
                f"received {checkpoint_path!r}."
            )
        return _existing_checkpoint(tf.compat.as_str(checkpoint_path), "checkpoint_path")
    if getattr(estimator, "model_dir", None):
        # TensorFlow reads model_dir itself here: its store's client defaults go first.
        store_for(estimator.model_dir)
    latest = estimator.latest_checkpoint()
    if latest:
        return latest
    warm_start = tf_private.warm_start_checkpoint(estimator)
    if warm_start:
        return _existing_checkpoint(warm_start, "the estimator's warm_start_from")
    raise ValueError(
        f"No checkpoint found to export: model_dir {estimator.model_dir!r} has none "
        "(estimator.latest_checkpoint() returned None) and the estimator has no "
        "warm-start checkpoint. Train the estimator first, or pass checkpoint_path=."
    )


def _existing_checkpoint(path: str, argument: str) -> str:
    # A prefix with its index comes first: TF's ram:// filesystem reports every prefix of
    # an existing file name as a directory, so isdir('ram://m/model.ckpt-2') is True.
    if gfile.exists(path + ".index"):
        return path
    if gfile.isdir(path):
        variables_dir = paths.join(path, "variables")
        if gfile.exists(paths.join(variables_dir, "variables.index")):
            return paths.join(variables_dir, "variables")  # a SavedModel directory
        latest = tf.train.latest_checkpoint(path)
        if latest is None and gfile.exists(paths.join(path, "variables.index")):
            latest = paths.join(path, "variables")  # a SavedModel's variables/ directory
        if latest is None:
            raise ValueError(
                f"{argument}={path!r} is a directory with no checkpoint in it (no 'checkpoint' "
                "state file naming one). Pass a checkpoint prefix such as "
                "'model_dir/model.ckpt-100', or a directory the estimator has saved into."
            )
        return latest
    if gfile.exists(path):
        _check_is_v1_checkpoint(path, argument)
        return path
    raise ValueError(
        f"{argument}={path!r} does not exist: there is no checkpoint index {path + '.index'!r}. "
        "Pass the prefix of an existing checkpoint (e.g. 'model_dir/model.ckpt-100', without "
        "'.index'), a directory holding checkpoints, or None for the latest one."
    )


def _check_is_v1_checkpoint(path: str, argument: str) -> None:
    """A file given without an index must be a (TF1, single-file) checkpoint itself."""
    try:
        tf.compat.v1.train.NewCheckpointReader(path)
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(
            f"{argument}={path!r} is a file but not a checkpoint ({type(error).__name__}). Pass "
            "a checkpoint prefix: for 'model.ckpt-100.index' and 'model.ckpt-100.data-*', that "
            "is 'model.ckpt-100'."
        ) from None


def listed_checkpoints(model_dir: str) -> list[str]:
    """The checkpoints ``model_dir``'s ``checkpoint`` file lists, oldest first ([] if none).

    A file being replaced, or unreadable for a moment, reads as no list: the caller polls
    again.
    """
    try:
        state = tf.train.get_checkpoint_state(model_dir)
    except (tf.errors.OpError, ValueError) as error:  # text_format's ParseError is a ValueError
        logger.debug("Could not read the checkpoint list of %s: %s", model_dir, error)
        return []
    return [str(path) for path in state.all_model_checkpoint_paths] if state else []


def checkpoint_present(prefix: str) -> bool:
    """Whether the checkpoint ``prefix`` still has its index and data files."""
    return gfile.exists(prefix + ".index") and bool(gfile.glob(prefix + ".data-*"))
