"""The failures an export names by kind, and restating an error without losing where it came from.

Most failures are plain ``TypeError`` / ``ValueError`` whose message says everything. A few
are also TensorFlow's own failure cases, for which TF 2.15's
``Estimator.experimental_export_all_saved_models`` has a message of its own; the export
raises them as the subclasses below, so that the builtin route
(:mod:`estimator_ext.patching.tf_entry_points`) can lead with TF's sentence without reading
our wording. Each is a ``ValueError``, as TF's are, so ``except ValueError`` still catches it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class KnownFailure(ValueError):
    """An export failure of a kind TensorFlow's own export also reports (see the subclasses)."""


class NoModesError(KnownFailure):
    """``input_receiver_fn_map`` gives no mode to export (empty, or no usable entry)."""


class NoCheckpointError(KnownFailure):
    """No checkpoint to export: none given, none in ``model_dir`` and no warm start."""


class NotACheckpointError(KnownFailure):
    """The checkpoint given (or the warm-start one) is not a checkpoint; ``path`` names it."""

    path: str | None = None


class VariablesMismatchError(KnownFailure):
    """A mode's graph needs variables the checkpoint (or the exported variables) cannot supply."""


def public_class_name(error: BaseException) -> str:
    """The name of the class a user catches ``error`` as: ``ValueError`` for the kinds above,
    which only mark a failure for the builtin route; the error's own class otherwise."""
    return "ValueError" if isinstance(error, KnownFailure) else type(error).__name__


def restated(
    error: BaseException, message: str, error_class: type[BaseException] | None = None
) -> BaseException:
    """``error`` again, as ``error_class`` (default: its own class) with ``message``.

    The traceback and the attributes are kept; raise it ``from error.__cause__`` so that the
    chain is the original's too, not "during handling of the above exception".
    """
    restatement = (error_class or type(error))(message)
    restatement.__dict__.update(error.__dict__)
    return restatement.with_traceback(error.__traceback__)


def _restatable(error: BaseException) -> bool:
    # Only classes whose constructor takes one message (not UnicodeDecodeError's five).
    return type(error) in (TypeError, ValueError) or isinstance(error, KnownFailure)


@contextlib.contextmanager
def naming(caller: str) -> Iterator[None]:
    """Prefixes ``"<caller>: "`` to the TypeError / ValueError raised in the block.

    Argument checks shared by several callers word their message without the function;
    this names the one the user called. Messages that already start with it are left alone.
    """
    try:
        yield
    except (TypeError, ValueError) as error:
        if not _restatable(error) or str(error).startswith(f"{caller}:"):
            raise
        raise restated(error, f"{caller}: {error}") from error.__cause__


@contextlib.contextmanager
def as_kind(error_class: type[KnownFailure], **attributes: object) -> Iterator[None]:
    """Re-raises a ValueError from the block as ``error_class`` (same message), with ``attributes``.

    How the export names the kind of a failure that a lower layer raised as a plain ValueError.
    """
    try:
        yield
    except ValueError as error:
        if isinstance(error, error_class) or not _restatable(error):
            raise
        restatement = restated(error, str(error), error_class)
        restatement.__dict__.update(attributes)
        raise restatement from error.__cause__
