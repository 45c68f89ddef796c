"""Issue 6, item 4: an exception in the model_fn or a receiver fn, in each mode.

The original exception (same type, same message, same object) propagates, and nothing
is left on disk: no temporary, no integer-named directory, no ``export_dir_base`` the
export created; an existing base keeps exactly what it held.
"""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

import estimator_ext
from tests.support import data, tree_audit

MK = data.MK


class ReceiverFailure(Exception):
    """Raised by a receiver fn under test."""


def raising_receiver(error: BaseException):
    def receiver_fn():
        raise error

    return receiver_fn


@pytest.fixture
def base_with_an_export(sandbox, estimator):
    """A base already holding one export, which a failing export must leave as it is."""
    base = os.path.join(sandbox, "exports")
    estimator_ext.export_all_saved_models(estimator, base, data.adam_receiver_map([MK.PREDICT]))
    return base


@pytest.mark.parametrize("mode", data.ALL_MODES)
def test_model_fn_exception_propagates_and_nothing_is_left(
    mode, model_dir, base_with_an_export, sandbox
):
    """The model_fn raises in ``mode`` (TRAIN fails before the variables are written,
    EVAL and PREDICT after): the same exception type and message, the sandbox unchanged."""
    before = tree_audit.snapshot(sandbox, dir_mtimes=False)
    failing = data.make_adam_estimator(model_dir, raise_in=mode)
    with pytest.raises(data.ModelFnFailure, match=f"^model_fn refuses mode {mode}$"):
        estimator_ext.export_all_saved_models(
            failing, base_with_an_export, data.adam_receiver_map()
        )
    assert tree_audit.diff(before, tree_audit.snapshot(sandbox, dir_mtimes=False)) == []


@pytest.mark.parametrize("mode", data.ALL_MODES)
def test_receiver_exception_propagates_and_nothing_is_left(
    mode, estimator, base_with_an_export, sandbox
):
    """The receiver fn of ``mode`` raises: the very exception object propagates, the
    sandbox is unchanged."""
    before = tree_audit.snapshot(sandbox, dir_mtimes=False)
    error = ReceiverFailure(f"receiver for {mode} cannot build its inputs")
    receivers = data.adam_receiver_map()
    receivers[mode] = raising_receiver(error)
    with pytest.raises(ReceiverFailure) as raised:
        estimator_ext.export_all_saved_models(estimator, base_with_an_export, receivers)
    assert raised.value is error
    assert tree_audit.diff(before, tree_audit.snapshot(sandbox, dir_mtimes=False)) == []


@pytest.mark.parametrize(
    "error",
    [
        KeyboardInterrupt("interrupted by the user"),
        ValueError("a ValueError of the receiver's own"),
        TypeError("a TypeError of the receiver's own"),
        tf.errors.NotFoundError(None, None, "a TensorFlow error of the receiver's own"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_any_exception_type_propagates_unchanged(error, estimator, sandbox):
    """Also BaseException (Ctrl-C while exporting) and the exception types the library
    raises itself: they come out untouched (not wrapped, not renamed), and the missing
    nested base the export created is removed again."""
    base = os.path.join(sandbox, "a", "b", "exports")
    receivers = data.adam_receiver_map()
    receivers[MK.EVAL] = raising_receiver(error)
    with pytest.raises(type(error)) as raised:
        estimator_ext.export_all_saved_models(estimator, base, receivers)
    assert raised.value is error
    assert os.listdir(sandbox) == []


def test_failing_export_keeps_a_base_another_export_published_into(
    estimator, sandbox, checkpoint_prefix
):
    """Export A finds the base missing and creates it; while A runs, export B publishes
    into that base; then A fails. A removes only what is its own: B's export stays
    (A used to remove the whole base it had created, B's export with it)."""
    base = os.path.join(sandbox, "exports")
    published_by_b = []

    def receiver_publishing_b_then_failing():
        published_by_b.append(
            estimator_ext.export_all_saved_models(
                estimator, base, data.adam_receiver_map([MK.TRAIN])
            )
        )
        raise ReceiverFailure("A fails after B published")

    receivers = data.adam_receiver_map()
    receivers[MK.PREDICT] = receiver_publishing_b_then_failing
    with pytest.raises(ReceiverFailure):
        estimator_ext.export_all_saved_models(estimator, base, receivers)
    assert os.listdir(base) == [os.path.basename(published_by_b[0])]
    assert tree_audit.load_every_mode(published_by_b[0], checkpoint_prefix) == [("train",)]
