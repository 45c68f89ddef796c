"""``estimator-ext convert --serve-only EXPORT OUT``: an export's serve graph as a TF2 SavedModel.

What Keras 3's ``keras.layers.TFSMLayer`` and ``tf.saved_model.load(OUT)`` (no ``tags=``)
open; the conversion and its contract are
:func:`estimator_ext.serving.convert.convert_serve_only`. On success the converted
directory is printed on stdout and one summary line (the signatures kept, the meta graphs
dropped) on stderr, unless ``--quiet``. Bad input (``EXPORT`` not a SavedModel or without
a serve graph, ``OUT`` existing or inside ``EXPORT``) ends with exit status 2, a failed
conversion with 1; either way with one line on stderr and nothing left on disk.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from estimator_ext.cli.inputs import EXIT_FAILURE, CliError, one_line


def add_convert_parser(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    """Adds ``convert`` with ``add_parser``, the subcommands' ``add_parser`` method."""
    convert = add_parser(
        "convert",
        help="write an export's serve graph as a single-graph TF2 SavedModel "
        "(for Keras 3's TFSMLayer and tf.saved_model.load without tags)",
        description="Writes the meta graph tagged 'serve' of EXPORT, with all its signatures, "
        "variables, assets and lookup tables, as a new TF2 SavedModel OUT (one meta graph); "
        "the TRAIN and EVAL graphs and assets.extra/ are dropped. OUT must not exist.",
    )
    convert.add_argument(
        "--serve-only",
        action="store_true",
        help="keep only the serve graph (required: the one conversion there is)",
    )
    convert.add_argument("export_dir", metavar="EXPORT")
    convert.add_argument("output_dir", metavar="OUT")
    convert.add_argument(
        "--quiet", action="store_true", help="no summary line; OUT is still printed on stdout"
    )
    convert.add_argument(
        "--traceback", action="store_true", help="on failure, show the full traceback"
    )


def convert(args: argparse.Namespace) -> int:
    """Runs ``convert``; returns the exit status or raises :class:`CliError`."""
    if not args.serve_only:
        raise CliError(
            "convert: --serve-only is required (it is the one conversion there is: the serve "
            "graph alone, as a TF2 SavedModel); run `estimator-ext convert --serve-only "
            "EXPORT OUT`."
        )
    from estimator_ext.serving.convert import OutputInsideExportError, SparseSignatureInputError
    from estimator_ext.serving.convert import convert as convert_export
    from estimator_ext.serving.saved_model_file import (
        NotASavedModelError,
        UnreadableSavedModelError,
        read_saved_model,
    )

    try:
        output_dir = convert_export(
            args.export_dir,
            args.output_dir,
            caller="convert",
            export_name="EXPORT",
            output_name="OUT",
        )
    except UnreadableSavedModelError as error:
        raise CliError(str(error), EXIT_FAILURE) from error
    except (
        NotASavedModelError,
        FileExistsError,
        OutputInsideExportError,
        SparseSignatureInputError,
        TypeError,
    ) as error:
        raise CliError(one_line(error)) from error
    except Exception as error:  # reported as one line; --traceback for more
        if args.traceback:
            raise
        raise CliError(
            f"convert failed: {type(error).__name__}: {one_line(error)}", EXIT_FAILURE
        ) from error
    if not args.quiet:
        (meta_graph,) = read_saved_model(output_dir).meta_graphs
        signatures = sorted(key for key in meta_graph.signature_def if not key.startswith("__"))
        dropped = [
            "+".join(graph.meta_info_def.tags)
            for graph in read_saved_model(args.export_dir).meta_graphs
            if sorted(graph.meta_info_def.tags) != ["serve"]
        ]
        sys.stderr.write(
            f"estimator-ext: converted the serve graph of {args.export_dir}: signatures "
            f"{', '.join(signatures)}; dropped the meta graphs "
            f"{', '.join(dropped) or '(none)'}\n"
        )
    print(output_dir)
    return 0
