"""What the ``estimator-ext`` command line names, turned into objects.

``--estimator MODULE:FACTORY`` into an Estimator, ``--receivers MODULE:MAP`` into a receiver
map, ``--warmup FILE`` into warmup requests. Every failure is a :class:`CliError`: one line
that names the option, what it received and what to do, with the exit status the CLI
ends with. ``estimator_ext.cli`` only parses arguments and prints.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any

#: Exit statuses: bad input / usage, and a command that failed on good input.
EXIT_USAGE = 2
EXIT_FAILURE = 1


class CliError(Exception):
    """A failure reported as one line on stderr, with an exit status."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code


def one_line(text: Any) -> str:
    return " ".join(str(text).split())


def load_object(spec: str, option: str) -> Any:
    """Imports ``MODULE:NAME`` (``NAME`` may be dotted), from the current directory first.

    Raises:
      CliError: malformed spec, module not found or failing on import, no such name.
    """
    module_name, separator, attribute = spec.partition(":")
    if not separator or not module_name.strip() or not attribute.strip():
        raise CliError(
            f"{option} must be MODULE:NAME, e.g. 'my_project.model:make_estimator'; "
            f"received {spec!r}."
        )
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            raise CliError(
                f"{option} {spec!r}: no module named {error.name!r} "
                "(looked in the current directory and sys.path)."
            ) from error
        raise CliError(
            f"{option} {spec!r}: importing {module_name!r} failed: {one_line(error)}"
        ) from error
    except Exception as error:  # the user's module raised while importing
        raise CliError(
            f"{option} {spec!r}: importing {module_name!r} raised "
            f"{type(error).__name__}: {one_line(error)}"
        ) from error
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            names = [name for name in dir(value) if not name.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise CliError(
                f"{option} {spec!r}: {module_name!r} has no attribute {attribute!r}.{hint}"
            )
        value = getattr(value, part)
    return value


def build_estimator(spec: str, model_dir: str | None) -> Any:
    from estimator_ext._tf_private import members as tf_private  # tf.compat.v1.estimator

    factory = load_object(spec, "--estimator")
    if isinstance(factory, tf_private.tf_compat_v1_estimator.Estimator):
        if model_dir is not None:
            raise CliError(
                f"--estimator {spec!r} is an Estimator object, not a factory; "
                "--model-dir needs a factory to pass model_dir= to."
            )
        return factory
    if not callable(factory):
        raise CliError(
            f"--estimator {spec!r} is a {type(factory).__name__}; "
            "expected a function returning a tf.estimator.Estimator."
        )
    kwargs = {"model_dir": model_dir} if model_dir is not None else {}
    arguments = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    call_text = f"{spec.partition(':')[2]}({arguments})"
    try:
        estimator = factory(**kwargs)
    except Exception as error:  # the user's factory failed
        raise CliError(
            f"--estimator: calling {call_text} raised {type(error).__name__}: {one_line(error)}",
            EXIT_FAILURE,
        ) from error
    if not isinstance(estimator, tf_private.tf_compat_v1_estimator.Estimator):
        raise CliError(
            f"--estimator: {call_text} returned a {type(estimator).__name__}, "
            "expected a tf.estimator.Estimator."
        )
    return estimator


def receiver_map(spec: str) -> Mapping[str, Any]:
    receivers = load_object(spec, "--receivers")
    if not isinstance(receivers, Mapping) and callable(receivers):
        try:
            receivers = receivers()
        except Exception as error:  # the user's function failed
            raise CliError(
                f"--receivers: calling {spec!r} raised {type(error).__name__}: {one_line(error)}",
                EXIT_FAILURE,
            ) from error
    if not isinstance(receivers, Mapping):
        raise CliError(
            f"--receivers {spec!r} must be a dict of tf.estimator.ModeKeys to receiver fns "
            f"(or a function returning one); got {type(receivers).__name__}."
        )
    return receivers


def warmup_requests_from_file(path: str | None) -> list[Any] | None:
    """The requests of ``--warmup FILE`` (TFRecord of tf.Examples or JSON lines), or None."""
    if path is None:
        return None
    from estimator_ext.cli import warmup_file

    try:
        return list(warmup_file.read_warmup_file(path))
    except ValueError as error:
        raise CliError(str(error)) from error
