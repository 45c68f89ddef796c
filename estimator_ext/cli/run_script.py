"""Running a script as ``python SCRIPT ARGS`` would, with :func:`estimator_ext.patch` applied.

What ``estimator-ext run`` does (the CLI only parses its arguments): like ``coverage run``,
the script's ``sys.argv``, ``__main__``, ``sys.path[0]``, output, traceback and exit status
are its own.

On TensorFlow 2.16 and later the canned estimators need the legacy Keras, tf-keras, which
TensorFlow picks from the environment variable ``TF_USE_LEGACY_KERAS`` when ``tf.keras`` is
first used; :func:`legacy_keras_chosen` sets it to ``1`` for the script when tf-keras is
installed and the variable is unset. A value the user set, ``0`` included, is kept: under
Keras 3 a custom ``model_fn`` still works and a canned estimator raises an error naming the
variable and tf-keras. Without tf-keras it stays unset (TensorFlow would refuse to load any
``tf.keras`` with ``TF_USE_LEGACY_KERAS=1`` and no tf-keras).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import runpy
import sys
import traceback
from collections.abc import Iterator, MutableMapping, Sequence

# The environment variable TensorFlow 2.16+ reads to route tf.keras to tf-keras (TF-free import).
from estimator_ext._tf_private.legacy_keras import LEGACY_KERAS_VARIABLE


@contextlib.contextmanager
def legacy_keras_chosen(environ: MutableMapping[str, str] = os.environ) -> Iterator[bool]:
    """Sets ``TF_USE_LEGACY_KERAS=1`` in ``environ`` while the block runs, when it is unset
    and tf-keras is installed; yields whether it did, and removes it again afterwards.

    Setting it in the environment also reaches the script's child processes. It must be set
    before ``tf.keras`` is first used (TensorFlow reads it then), which is why the CLI sets
    it before the script imports TensorFlow.
    """
    chosen = (
        LEGACY_KERAS_VARIABLE not in environ and importlib.util.find_spec("tf_keras") is not None
    )
    if chosen:
        environ[LEGACY_KERAS_VARIABLE] = "1"
    try:
        yield chosen
    finally:
        if chosen and environ.get(LEGACY_KERAS_VARIABLE) == "1":
            del environ[LEGACY_KERAS_VARIABLE]


class ScriptNotFoundError(FileNotFoundError):
    """The script does not exist, or is a directory without ``__main__.py``."""


def run_script(script: str, script_args: Sequence[str], builtin: bool = False) -> int:
    """Runs ``script`` as ``__main__`` with :func:`estimator_ext.patch` applied.

    On TensorFlow 2.16 and later that also gives the script ``tf.estimator`` and
    ``tf.compat.v1.estimator``, and :func:`legacy_keras_chosen` gives it the legacy Keras
    when tf-keras is installed and ``TF_USE_LEGACY_KERAS`` is unset.

    ``builtin`` is ``patch(builtin=...)``'s (``run --builtin``): TF's own
    ``Estimator.experimental_export_all_saved_models`` then runs through estimator_ext too.

    Like ``coverage run``: ``sys.argv`` is ``[script, *script_args]``, ``sys.path[0]`` the
    script's directory, the script's ``SystemExit`` gives the exit status and an uncaught
    exception prints the script's traceback and gives status 1. ``sys.argv``,
    ``sys.path``, ``TF_USE_LEGACY_KERAS`` and the patch are restored afterwards.

    Raises:
      ScriptNotFoundError: the script does not exist (or is a directory without
        ``__main__.py``).
    """
    from estimator_ext.patching.lifecycle import patched

    if not os.path.exists(script):
        raise ScriptNotFoundError(f"script {script!r} not found (looked from {os.getcwd()!r}).")
    if os.path.isdir(script) and not os.path.exists(os.path.join(script, "__main__.py")):
        raise ScriptNotFoundError(
            f"{script!r} is a directory without a __main__.py; give the script's path."
        )
    real_script = os.path.realpath(script)
    script_dir = real_script if os.path.isdir(script) else os.path.dirname(real_script)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [script, *script_args]
    if sys.path:
        sys.path[0] = script_dir
    else:
        sys.path.append(script_dir)
    try:
        with legacy_keras_chosen(), patched(builtin=builtin):
            try:
                runpy.run_path(script, run_name="__main__")
            except SystemExit as exit_request:
                return exit_status(exit_request)
            except KeyboardInterrupt as interrupt:
                _print_script_traceback(interrupt, script)
                return 130
            except BaseException as error:  # the script's own failure
                _print_script_traceback(error, script)
                return 1
        return 0
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path


def exit_status(exit_request: SystemExit) -> int:
    """The status Python itself gives ``sys.exit(code)``."""
    code = exit_request.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_script_traceback(error: BaseException, script: str) -> None:
    """Prints the traceback as ``python script`` would, without runpy's and our frames."""
    script_file = os.path.realpath(script)
    tb = error.__traceback__
    while tb is not None and os.path.realpath(tb.tb_frame.f_code.co_filename) != script_file:
        tb = tb.tb_next
    if tb is None and not os.path.isdir(script):  # e.g. a SyntaxError: no frame of the script
        traceback.print_exception(type(error), error, None, file=sys.stderr)
        return
    shown = tb if tb is not None else error.__traceback__
    traceback.print_exception(type(error), error, shown, file=sys.stderr)
