"""``estimator-ext``: run legacy scripts patched, inspect, export and convert SavedModels.

::

    estimator-ext run [--builtin] SCRIPT [ARGS...]
    estimator-ext inspect EXPORT_DIR [--json]
    estimator-ext convert --serve-only EXPORT OUT [--quiet]
    estimator-ext export --estimator MODULE:FACTORY --receivers MODULE:MAP
                         [--model-dir DIR] [--checkpoint PATH] [--warmup FILE] [--quiet]
                         [--watch [--max-exports N] [--exports-to-keep N]
                          [--poll-interval SECONDS] [--idle-timeout SECONDS]]
                         EXPORT_DIR_BASE

(also ``python -m estimator_ext ...``). Bad input (a missing directory, something that
is not a SavedModel, a bad ``MODULE:NAME``, a script that is not there) ends with exit
status 2 and ONE line on stderr, never a traceback; a failed export with status 1 and
one line. A script run with ``run`` behaves as if run by ``python SCRIPT ARGS``: its
``sys.argv``, ``__main__``, ``sys.path[0]``, output, traceback and exit status are its own.
``export`` shows its progress on stderr: a bar when stderr is a terminal, plain lines
otherwise, nothing but warnings and errors with ``--quiet`` (``cli/progress_bar.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence

from estimator_ext._versions import VERSION
from estimator_ext.cli.convert_command import add_convert_parser, convert
from estimator_ext.cli.inputs import (
    EXIT_FAILURE,
    CliError,
    build_estimator,
    one_line,
    receiver_map,
    warmup_requests_from_file,
)
from estimator_ext.cli.progress_bar import progress_on
from estimator_ext.cli.run_script import exit_status, legacy_keras_chosen

PROG = "estimator-ext"


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (the usage is in ``--help``)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


# --- run ---------------------------------------------------------------------------------


def run_script(script: str, script_args: Sequence[str], builtin: bool = False) -> int:
    """``run SCRIPT ARGS``: :func:`estimator_ext.cli.run_script.run_script`, errors as one line."""
    from estimator_ext.cli import run_script as run_scripts

    try:
        return run_scripts.run_script(script, script_args, builtin=builtin)
    except run_scripts.ScriptNotFoundError as error:
        raise CliError(f"run: {error}") from error


# --- inspect -----------------------------------------------------------------------------


def _inspect(args: argparse.Namespace) -> int:
    from estimator_ext.serving.description import describe, format_description
    from estimator_ext.serving.saved_model_file import (
        NotASavedModelError,
        UnreadableSavedModelError,
    )

    try:
        description = describe(args.export_dir, argument_name="EXPORT_DIR")
    except UnreadableSavedModelError as error:
        raise CliError(f"inspect: {error}", EXIT_FAILURE) from error
    except NotASavedModelError as error:
        raise CliError(f"inspect: {error}") from error
    if args.json:
        print(json.dumps(description, indent=2, sort_keys=False))
    else:
        print(format_description(description))
    return 0


# --- export ------------------------------------------------------------------------------


@contextlib.contextmanager
def _user_code_patched() -> Iterator[None]:
    """``export``'s user code (``--estimator``, ``--receivers``) runs patched, as under ``run``.

    It is written against ``tf.estimator``, which TensorFlow 2.16 and later lack:
    :func:`estimator_ext.patch` restores ``tf.estimator`` and ``tf.compat.v1.estimator``
    there, and :func:`~estimator_ext.cli.run_script.legacy_keras_chosen` gives the canned
    estimators the legacy Keras. Both are undone on exit (the patch only if this block
    applied it). Entered outside ``progress_on``, so that the patch's own log lines are not
    progress.
    """
    from estimator_ext.patching.lifecycle import patched

    with legacy_keras_chosen(), patched():
        yield


def _export(args: argparse.Namespace) -> int:
    if args.watch:
        return _watch(args)
    _check_watch_options_unused(args)
    from estimator_ext.export.export_all import export_all_saved_models
    from estimator_ext.serving.description import format_size
    from estimator_ext.serving.saved_model_file import files_under
    from estimator_ext.storage import paths

    with _user_code_patched(), progress_on(sys.stderr, PROG, quiet=args.quiet):
        estimator = build_estimator(args.estimator, args.model_dir)
        receivers = receiver_map(args.receivers)
        warmup_requests = warmup_requests_from_file(args.warmup)
        try:
            export_dir = export_all_saved_models(
                estimator,
                args.export_dir_base,
                receivers,
                checkpoint_path=args.checkpoint,
                warmup_requests=warmup_requests,
            )
        except Exception as error:  # reported as one line; --traceback for more
            if args.traceback:
                raise
            raise CliError(
                f"export failed: {type(error).__name__}: {one_line(error)}", EXIT_FAILURE
            ) from error
        variables_bytes = sum(size for _, size in files_under(paths.join(export_dir, "variables")))
    if not args.quiet:
        sys.stderr.write(
            f"{PROG}: wrote {', '.join(export_dir.keys())}: variables from "
            f"{export_dir.saved_variables_mode} ({export_dir.variables_strategy or 'written'}), "
            f"{format_size(variables_bytes)}\n"
        )
    print(export_dir)
    return 0


def _check_watch_options_unused(args: argparse.Namespace) -> None:
    for option in ("max_exports", "exports_to_keep", "poll_interval", "idle_timeout"):
        if getattr(args, option) is not None:
            flag = "--" + option.replace("_", "-")
            raise CliError(f"export: {flag} needs --watch; add --watch, or leave {flag} out.")


def _watch(args: argparse.Namespace) -> int:
    from estimator_ext.cli.watch import WatchLimits, watch
    from estimator_ext.export.repeated import plan_export

    if args.checkpoint is not None:
        raise CliError(
            "export: --checkpoint and --watch exclude each other (--watch exports every new "
            "checkpoint of the model_dir); drop one of them."
        )
    limits = WatchLimits(
        poll_interval=5.0 if args.poll_interval is None else args.poll_interval,
        max_exports=args.max_exports,
        idle_timeout=args.idle_timeout,
        exports_to_keep=args.exports_to_keep,
    )
    with _user_code_patched(), progress_on(sys.stderr, PROG, quiet=args.quiet):
        estimator = build_estimator(args.estimator, args.model_dir)
        receivers = receiver_map(args.receivers)
        warmup_requests = warmup_requests_from_file(args.warmup)
        try:
            plan = plan_export(
                estimator, args.export_dir_base, receivers, warmup_requests=warmup_requests
            )
            summary = watch(plan, args.model_dir or estimator.model_dir, limits, _print_line)
        except Exception as error:  # reported as one line; --traceback for more
            if args.traceback:
                raise
            raise CliError(
                f"export failed: {type(error).__name__}: {one_line(error)}", EXIT_FAILURE
            ) from error
    if not args.quiet:
        sys.stderr.write(
            f"{PROG}: watch ended ({summary.ended_by}): {len(summary.exported)} exported, "
            f"{len(summary.skipped)} skipped\n"
        )
    return 0


def _print_line(text: str) -> None:
    print(text, flush=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, received {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, received {text!r}")
    return value


# --- main --------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Export all modes of a tf.estimator as one SavedModel; run legacy tf.contrib scripts."
        ),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser(
        "run",
        help="run a script with estimator_ext.patch() applied",
        description="Runs SCRIPT as __main__ with estimator_ext.patch() applied, as "
        "`python SCRIPT ARGS` would (every argument after SCRIPT is the script's).",
    )
    run.add_argument(
        "--builtin",
        action="store_true",
        help="also route TF's Estimator.experimental_export_all_saved_models (TFMA, TFX) "
        "through estimator_ext: patch(builtin=True)",
    )
    run.add_argument("script", metavar="SCRIPT")
    run.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER)

    inspect = commands.add_parser(
        "inspect", help="describe a SavedModel's meta graphs, signatures, variables and assets"
    )
    inspect.add_argument("export_dir", metavar="EXPORT_DIR")
    inspect.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )

    export = commands.add_parser(
        "export", help="export every mode of an estimator from its checkpoint"
    )
    export.add_argument("export_dir_base", metavar="EXPORT_DIR_BASE")
    export.add_argument(
        "--estimator",
        required=True,
        metavar="MODULE:FACTORY",
        help="a function returning the tf.estimator.Estimator "
        "(called with model_dir= if --model-dir is given)",
    )
    export.add_argument(
        "--receivers",
        required=True,
        metavar="MODULE:MAP",
        help="a dict of tf.estimator.ModeKeys to receiver fns, or a function returning one",
    )
    export.add_argument("--model-dir", metavar="DIR", help="passed to the factory as model_dir=")
    export.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="checkpoint prefix or directory to export (default: the latest)",
    )
    export.add_argument(
        "--warmup",
        metavar="FILE",
        help="TF Serving warmup requests to write and replay: a TFRecord of tf.Examples or "
        "JSON lines of feature dicts (at most 1000; errors number them from 0)",
    )
    export.add_argument(
        "--quiet",
        action="store_true",
        help="show no progress (no bar, no progress lines) and no summary; warnings and "
        "errors still go to stderr, the export's path to stdout",
    )
    export.add_argument(
        "--traceback", action="store_true", help="on failure, show the full traceback"
    )
    _add_watch_options(export)
    add_convert_parser(commands.add_parser)
    return parser


def _add_watch_options(export: argparse.ArgumentParser) -> None:
    export.add_argument(
        "--watch",
        action="store_true",
        help="export the newest checkpoint of the model_dir, then every new one, through one "
        "plan (graphs built once) until SIGINT/SIGTERM or a limit below",
    )
    export.add_argument(
        "--max-exports", type=_positive_int, metavar="N", help="with --watch: end after N exports"
    )
    export.add_argument(
        "--exports-to-keep",
        type=_positive_int,
        metavar="N",
        help="with --watch: keep only the newest N exports, as AllModesExporter(exports_to_keep=N)",
    )
    export.add_argument(
        "--poll-interval",
        type=_seconds,
        metavar="SECONDS",
        help="with --watch: how often to look for a new checkpoint (default 5)",
    )
    export.add_argument(
        "--idle-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="with --watch: end after SECONDS without a new checkpoint (default: never)",
    )


def _split_run(argv: list[str]) -> tuple | None:
    """``run [--builtin] SCRIPT ARGS...`` parsed by hand, so ARGS reach the script exactly."""
    if len(argv) < 2 or argv[0] != "run":
        return None
    rest = argv[1:]
    builtin = rest[0] == "--builtin"
    if builtin:
        rest = rest[1:]
    if not rest:
        return None
    if rest[0] == "--":
        rest = rest[1:]
    elif rest[0].startswith("-"):
        return None  # --help and friends: argparse answers
    if not rest:
        return None
    return rest[0], rest[1:], builtin


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``estimator-ext`` and ``python -m estimator_ext``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in ("run", "inspect", "export", "convert") else ""
    try:
        run_request = _split_run(argv)
        if run_request is not None:
            return run_script(*run_request)
        # inspect/export load TensorFlow later; keep its C++ start-up chatter off stderr
        # (one clear line on errors) unless the user asked for it. `run` leaves scripts alone.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            args = _build_parser().parse_args(argv)
        except SystemExit as exit_request:  # --help
            return exit_status(exit_request)
        if args.command == "run":
            return run_script(args.script, args.args, builtin=args.builtin)
        try:
            return {"inspect": _inspect, "export": _export, "convert": convert}[args.command](args)
        except CliError:
            raise
        except Exception as error:  # unforeseen failures are one line too
            if getattr(args, "traceback", False):
                raise
            raise CliError(f"{type(error).__name__}: {one_line(error)}", EXIT_FAILURE) from error
    except CliError as error:
        message = str(error)
        if command and message.startswith(f"{command}: "):
            message = message[len(command) + 2 :]
        print(f"{PROG}{' ' + command if command else ''}: error: {message}", file=sys.stderr)
        return error.exit_code
