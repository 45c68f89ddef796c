"""The failures an export names by kind, and restating an error without losing where it came from.

Most failures are plain ``TypeError`` / ``ValueError`` whose message says everything. A few
are also TensorFlow's own failure cases, for which TF 2.15's
``Estimator.experimental_export_all_saved_models`` has a message of its own: the export
tags those errors with their :class:`Failure` (an attribute; the error keeps its class, so
``except ValueError`` and exact-class checks are unchanged), and the builtin route
(:mod:`estimator_ext.patching.tf_entry_points`) leads with TF's sentence without reading our
wording.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Iterator


class Kind(enum.Enum):
    """A failure TensorFlow's own export reports too (with a message of its own)."""

    NO_MODES = "no usable mode"
    NO_CHECKPOINT = "no checkpoint"
    NOT_A_CHECKPOINT = "not a checkpoint"
    VARIABLES_MISMATCH = "variables the checkpoint cannot supply"


@dataclasses.dataclass(frozen=True)
class Failure:
    """What the builtin route needs to word a :class:`Kind` as TF does."""

    kind: Kind
    path: str | None = None  # NOT_A_CHECKPOINT: the path given
    mode: str | None = None  # VARIABLES_MISMATCH: the mode that failed


#: The attribute a tagged error carries its :class:`Failure` in.
ATTRIBUTE = "estimator_ext_failure"


def tagged(error: BaseException, failure: Failure) -> BaseException:
    """``error`` itself, carrying ``failure`` (a tag already there is kept: it is closer)."""
    if failure_of(error) is None:
        setattr(error, ATTRIBUTE, failure)
    return error


def failure_of(error: BaseException) -> Failure | None:
    """The :class:`Failure` ``error`` was tagged with, or None."""
    failure = getattr(error, ATTRIBUTE, None)
    return failure if isinstance(failure, Failure) else None


@contextlib.contextmanager
def as_failure(failure: Failure) -> Iterator[None]:
    """Tags a ValueError raised in the block with ``failure`` (same object, same class).

    How the export names the kind of a failure that a lower layer raised as a plain
    ValueError, without changing what the user catches.
    """
    try:
        yield
    except ValueError as error:
        tagged(error, failure)
        raise


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
    return type(error) in (TypeError, ValueError)


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
