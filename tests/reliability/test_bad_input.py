"""Issue 6, item 5: the bad-input table.

Every row is one bad call of ``export_all_saved_models``: what is wrong, the exception
type expected, and a pattern the message must contain (it names the argument, and for
receivers the mode). For every row nothing may appear on disk: ``export_dir_base`` is a
missing nested path that must still be missing afterwards, and the sandbox holding the
inputs is unchanged.

Safety decisions this table documents, for ``assets_extra``:

* destinations are relative file paths inside ``assets.extra/``: absolute paths, URLs,
  anything climbing out with ``..`` (also spelled with backslashes), ``.``, empty
  names, names ending in ``/``, NUL characters and non-strings are refused, and so are
  two entries naming one file or one entry's file being another's directory;
* a destination can never traverse a symlink, because every directory inside the export
  is created by the export itself;
* a *source* that is a symlink to a file, wherever it points, is accepted and copied as
  a regular file (the user named it explicitly; the export never contains a link that
  would leak outside or break when the export is moved): see ``ACCEPTED`` below. A
  symlink to nothing or to a directory is refused, as are directories, FIFOs and devices
  (a FIFO would block the export forever, ``/dev/zero`` would fill the disk).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import pathlib
from typing import Any, Callable

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from tests.support import data, tree_audit

MK = data.MK


@dataclasses.dataclass
class Inputs:
    """What the rows are built from: a good call, and files of every kind."""

    estimator: Any
    base: str  # missing nested path
    source: str  # a regular file
    directory: str
    outside_file_link: str  # symlink to a file outside the sandbox
    outside_dir_link: str  # symlink to a directory outside the sandbox
    dangling_link: str
    fifo: str
    text_file: str  # not a checkpoint
    empty_dir: str

    def good(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "export_dir_base": self.base,
            "input_receiver_fn_map": data.adam_receiver_map(),
        }


@pytest.fixture
def inputs(sandbox, estimator, tmp_path) -> Inputs:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text("outside the sandbox")
    root = pathlib.Path(sandbox) / "inputs"
    (root / "directory").mkdir(parents=True)
    (root / "empty_dir").mkdir()
    (root / "vocab.txt").write_text("a\nb\n")
    (root / "notes.txt").write_text("not a checkpoint")
    os.symlink(outside / "secret.txt", root / "outside_file_link")
    os.symlink(outside / "dir", root / "outside_dir_link")
    os.symlink(root / "gone", root / "dangling_link")
    os.mkfifo(root / "fifo")
    return Inputs(
        estimator=estimator,
        base=os.path.join(sandbox, "missing", "exports"),
        source=str(root / "vocab.txt"),
        directory=str(root / "directory"),
        outside_file_link=str(root / "outside_file_link"),
        outside_dir_link=str(root / "outside_dir_link"),
        dangling_link=str(root / "dangling_link"),
        fifo=str(root / "fifo"),
        text_file=str(root / "notes.txt"),
        empty_dir=str(root / "empty_dir"),
    )


@dataclasses.dataclass
class Row:
    why: str
    change: Callable[[Inputs], dict[str, Any]]  # arguments replacing the good call's
    error: type[BaseException]
    message: str  # regex the message must match
    known_bug: str = ""  # a library bug, reported, not fixed in this file's owner's code yet


def receivers_with(mode: str, receiver_fn: Any) -> dict[str, Any]:
    receivers = data.adam_receiver_map()
    receivers[mode] = receiver_fn
    return {"input_receiver_fn_map": receivers}


def assets(mapping: Callable[[Inputs], Any]) -> Callable[[Inputs], dict[str, Any]]:
    return lambda inputs: {"assets_extra": mapping(inputs)}


SERVE = data.adam_serving_receiver_fn()

TABLE: dict[str, Row] = {
    # --- estimator
    "estimator-none": Row(
        "no estimator",
        lambda i: {"estimator": None},
        TypeError,
        r"`estimator` must be a tf\.estimator\.Estimator",
    ),
    "estimator-str": Row(
        "a model_dir instead of an Estimator",
        lambda i: {"estimator": "model_dir"},
        TypeError,
        r"`estimator`.*received str",
    ),
    "estimator-keras": Row(
        "a Keras model",
        lambda i: {"estimator": tf.keras.Sequential()},
        TypeError,
        r"`estimator`.*model_to_estimator",
    ),
    # --- export_dir_base
    "base-none": Row(
        "no base", lambda i: {"export_dir_base": None}, TypeError, r"export_dir_base must be"
    ),
    "base-int": Row(
        "a number", lambda i: {"export_dir_base": 123}, TypeError, r"export_dir_base must be"
    ),
    "base-empty": Row(
        "an empty path", lambda i: {"export_dir_base": ""}, TypeError, r"export_dir_base must be"
    ),
    "base-list": Row(
        "a list of paths",
        lambda i: {"export_dir_base": ["exports"]},
        TypeError,
        r"export_dir_base must be",
    ),
    "base-is-file": Row(
        "an existing file",
        lambda i: {"export_dir_base": i.source},
        ValueError,
        r"export_dir_base=.* is a file",
    ),
    # --- input_receiver_fn_map: the map itself
    "map-none": Row(
        "no map",
        lambda i: {"input_receiver_fn_map": None},
        TypeError,
        r"input_receiver_fn_map must be a dict",
    ),
    "map-list": Row(
        "a list of (mode, fn) pairs",
        lambda i: {"input_receiver_fn_map": [(MK.PREDICT, SERVE)]},
        TypeError,
        r"input_receiver_fn_map must be a dict",
    ),
    "map-function": Row(
        "the receiver fn itself",
        lambda i: {"input_receiver_fn_map": SERVE},
        TypeError,
        r"input_receiver_fn_map must be a dict",
    ),
    "map-empty": Row(
        "an empty map",
        lambda i: {"input_receiver_fn_map": {}},
        ValueError,
        r"input_receiver_fn_map is empty",
    ),
    # --- input_receiver_fn_map: mode keys
    "key-predict": Row(
        "'predict' is not a ModeKeys value",
        lambda i: {"input_receiver_fn_map": {"predict": SERVE}},
        ValueError,
        r"input_receiver_fn_map has key 'predict'.*Did you mean ModeKeys\.PREDICT",
    ),
    "key-serving-default": Row(
        "a signature key as mode",
        lambda i: {"input_receiver_fn_map": {"serving_default": SERVE}},
        ValueError,
        r"input_receiver_fn_map has key 'serving_default'",
    ),
    "key-int": Row(
        "a number as mode",
        lambda i: {"input_receiver_fn_map": {1: SERVE}},
        ValueError,
        r"input_receiver_fn_map has key 1",
    ),
    "key-none": Row(
        "None as mode",
        lambda i: {"input_receiver_fn_map": {None: SERVE}},
        ValueError,
        r"input_receiver_fn_map has key None",
    ),
    "key-upper-case": Row(
        "'TRAIN' (the attribute name)",
        lambda i: {"input_receiver_fn_map": {"TRAIN": SERVE}},
        ValueError,
        r"input_receiver_fn_map has key 'TRAIN'.*ModeKeys\.TRAIN",
    ),
    # --- input_receiver_fn_map: receiver fns
    "receiver-none": Row(
        "None as receiver fn",
        lambda i: receivers_with(MK.PREDICT, None),
        ValueError,
        r"input_receiver_fn_map\['infer'.* is None",
    ),
    "receiver-str": Row(
        "a name instead of a fn",
        lambda i: receivers_with(MK.PREDICT, "serving_input_fn"),
        TypeError,
        r"input_receiver_fn_map\['infer'.*must be a function",
    ),
    "receiver-returns-none": Row(
        "returns None",
        lambda i: receivers_with(MK.PREDICT, lambda: None),
        TypeError,
        r"input_receiver_fn_map\['infer'.*returned NoneType",
    ),
    "receiver-returns-dict": Row(
        "returns a features dict",
        lambda i: receivers_with(MK.EVAL, lambda: {"x": 1}),
        TypeError,
        r"input_receiver_fn_map\['eval'.*returned dict",
    ),
    "receiver-returns-tuple": Row(
        "returns (features, labels) as input_fn does",
        lambda i: receivers_with(MK.TRAIN, lambda: ({"x": 1}, 2)),
        TypeError,
        r"input_receiver_fn_map\['train'.*returned tuple",
    ),
    "receiver-serving-for-train": Row(
        "a serving receiver (no labels) for TRAIN",
        lambda i: receivers_with(MK.TRAIN, SERVE),
        ValueError,
        r"input_receiver_fn_map\['train'.*without labels",
    ),
    "receiver-needs-argument": Row(
        "a receiver fn that needs an argument",
        lambda i: receivers_with(MK.PREDICT, lambda params: SERVE()),
        TypeError,
        r"input_receiver_fn_map\['infer'.*no arguments",
    ),
    # --- assets_extra: the mapping
    "assets-list": Row(
        "a list of files", assets(lambda i: [i.source]), TypeError, r"assets_extra must be a dict"
    ),
    "assets-str": Row(
        "one path", assets(lambda i: i.source), TypeError, r"assets_extra must be a dict"
    ),
    # --- assets_extra: destinations
    "dest-absolute": Row(
        "absolute destination",
        assets(lambda i: {"/etc/x": i.source}),
        ValueError,
        r"assets_extra destination '/etc/x' points outside",
    ),
    "dest-dotdot": Row(
        "climbs out",
        assets(lambda i: {"../x": i.source}),
        ValueError,
        r"assets_extra destination '\.\./x' points outside",
    ),
    "dest-nested-dotdot": Row(
        "climbs out from a subdirectory",
        assets(lambda i: {"a/../../x": i.source}),
        ValueError,
        r"assets_extra destination .* points outside",
    ),
    "dest-backslash-dotdot": Row(
        "climbs out with backslashes",
        assets(lambda i: {"..\\..\\x": i.source}),
        ValueError,
        r"assets_extra destination .* points outside",
    ),
    "dest-url": Row(
        "a URL",
        assets(lambda i: {"gs://bucket/x": i.source}),
        ValueError,
        r"assets_extra destination 'gs://bucket/x' points outside",
    ),
    "dest-dot": Row(
        "the directory itself",
        assets(lambda i: {".": i.source}),
        ValueError,
        r"assets_extra destination '\.' points outside",
    ),
    "dest-empty": Row(
        "empty destination",
        assets(lambda i: {"": i.source}),
        ValueError,
        r"assets_extra has destination ''",
    ),
    "dest-blank": Row(
        "blank destination",
        assets(lambda i: {"  ": i.source}),
        ValueError,
        r"assets_extra has destination '  '",
    ),
    "dest-trailing-slash": Row(
        "a directory as destination",
        assets(lambda i: {"vocab/": i.source}),
        ValueError,
        r"assets_extra destination 'vocab/' ends with a '/'",
    ),
    "dest-nul": Row(
        "NUL in the name",
        assets(lambda i: {"a\x00b": i.source}),
        ValueError,
        r"assets_extra destination .* NUL",
    ),
    "dest-too-long": Row(
        "a 300-byte file name (fails mid-export otherwise)",
        assets(lambda i: {"d/" + "n" * 300: i.source}),
        ValueError,
        r"assets_extra destination .* 300 bytes",
    ),
    "dest-surrogate": Row(
        "not valid Unicode",
        assets(lambda i: {"\ud800.txt": i.source}),
        ValueError,
        r"assets_extra destination .* not valid Unicode",
    ),
    "dest-int": Row(
        "a number as destination",
        assets(lambda i: {1: i.source}),
        TypeError,
        r"assets_extra has destination 1 \(int\)",
    ),
    "dest-none": Row(
        "None as destination",
        assets(lambda i: {None: i.source}),
        TypeError,
        r"assets_extra has destination None",
    ),
    "dest-duplicate": Row(
        "two names for one file",
        assets(lambda i: {"x": i.source, "./x": i.source}),
        ValueError,
        r"assets_extra destinations 'x' and '\./x' both name",
    ),
    "dest-file-and-dir": Row(
        "a file that another needs as directory",
        assets(lambda i: {"a": i.source, "a/b": i.source}),
        ValueError,
        r"assets_extra destinations 'a' and 'a/b' clash",
    ),
    # --- assets_extra: sources
    "source-missing": Row(
        "missing source",
        assets(lambda i: {"x": i.source + ".missing"}),
        ValueError,
        r"assets_extra\['x'\] = .* does not exist",
    ),
    "source-directory": Row(
        "a directory",
        assets(lambda i: {"x": i.directory}),
        ValueError,
        r"assets_extra\['x'\] = .* is a directory",
    ),
    "source-dangling-link": Row(
        "a symlink to nothing",
        assets(lambda i: {"x": i.dangling_link}),
        ValueError,
        r"assets_extra\['x'\] = .* does not exist",
    ),
    "source-link-to-outside-dir": Row(
        "a symlink to a directory outside",
        assets(lambda i: {"x": i.outside_dir_link}),
        ValueError,
        r"assets_extra\['x'\] = .* is a directory",
    ),
    "source-fifo": Row(
        "a FIFO (would block forever)",
        assets(lambda i: {"x": i.fifo}),
        ValueError,
        r"assets_extra\['x'\] = .* is not a regular file",
    ),
    "source-dev-zero": Row(
        "a device (would fill the disk)",
        assets(lambda i: {"x": "/dev/zero"}),
        ValueError,
        r"assets_extra\['x'\] = '/dev/zero' is not a regular file",
    ),
    "source-surrogate": Row(
        "a source path that is not valid Unicode",
        assets(lambda i: {"x": "\udcff"}),
        ValueError,
        r"assets_extra\['x'\] = .* not valid Unicode",
    ),
    "source-int": Row(
        "a number as source",
        assets(lambda i: {"x": 42}),
        TypeError,
        r"assets_extra\['x'\] must be the path",
    ),
    "source-none": Row(
        "None as source",
        assets(lambda i: {"x": None}),
        TypeError,
        r"assets_extra\['x'\] must be the path",
    ),
    # --- as_text, strip_default_attrs
    "as-text-str": Row(
        "'yes' (truthy string)",
        lambda i: {"as_text": "yes"},
        TypeError,
        r"`as_text` must be True or False",
    ),
    "as-text-none": Row(
        "None", lambda i: {"as_text": None}, TypeError, r"`as_text` must be True or False"
    ),
    "strip-str-false": Row(
        "'false' (a truthy string!)",
        lambda i: {"strip_default_attrs": "false"},
        TypeError,
        r"`strip_default_attrs` must be True or False",
    ),
    "strip-int": Row(
        "1",
        lambda i: {"strip_default_attrs": 1},
        TypeError,
        r"`strip_default_attrs` must be True or False",
    ),
    # --- checkpoint_path
    "checkpoint-int": Row(
        "a step number", lambda i: {"checkpoint_path": 100}, TypeError, r"checkpoint_path must be"
    ),
    "checkpoint-empty": Row(
        "an empty path", lambda i: {"checkpoint_path": ""}, TypeError, r"checkpoint_path must be"
    ),
    "checkpoint-list": Row(
        "a list of paths",
        lambda i: {"checkpoint_path": ["a"]},
        TypeError,
        r"checkpoint_path must be",
    ),
    "checkpoint-missing": Row(
        "a missing prefix",
        lambda i: {"checkpoint_path": i.source + ".ckpt-1"},
        ValueError,
        r"checkpoint_path=.* does not exist",
    ),
    "checkpoint-empty-dir": Row(
        "a directory without checkpoints",
        lambda i: {"checkpoint_path": i.empty_dir},
        ValueError,
        r"checkpoint_path=.* no checkpoint",
    ),
    "checkpoint-not-a-checkpoint": Row(
        "a file that is no checkpoint",
        lambda i: {"checkpoint_path": i.text_file},
        ValueError,
        r"checkpoint_path=.*not a checkpoint",
    ),
    # --- warmup_requests
    "warmup-empty": Row(
        "an empty list", lambda i: {"warmup_requests": []}, ValueError, r"warmup_requests is empty"
    ),
    "warmup-int": Row(
        "a number",
        lambda i: {"warmup_requests": 3},
        TypeError,
        r"warmup_requests must be a sequence",
    ),
    # --- _write_options (internal, for tests and benchmarks)
    "write-options-str": Row(
        "a strategy name instead of WriteOptions",
        lambda i: {"_write_options": "copy"},
        TypeError,
        r"_write_options must be an estimator_ext\.variables\.strategies\.WriteOptions"
        r".*received 'copy'",
    ),
}


@pytest.mark.parametrize(
    "row_id",
    [
        pytest.param(row_id, marks=pytest.mark.xfail(reason=row.known_bug, strict=True))
        if row.known_bug
        else row_id
        for row_id, row in TABLE.items()
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(row_id, inputs, sandbox):
    """One row of the table: the expected exception type, a message naming the argument,
    and nothing on disk (the missing base still missing, the sandbox unchanged)."""
    row = TABLE[row_id]
    arguments = {**inputs.good(), **row.change(inputs)}
    before = tree_audit.snapshot(sandbox, dir_mtimes=False)
    with pytest.raises(row.error) as raised:
        estimator_ext.export_all_saved_models(**arguments)
    assert raised.type is row.error, f"{row.why}: {raised.type.__name__}: {raised.value}"
    assert raised.match(row.message), row.why
    assert not os.path.exists(inputs.base)
    assert tree_audit.diff(before, tree_audit.snapshot(sandbox, dir_mtimes=False)) == []


def test_every_argument_has_a_bad_value_in_the_table(inputs):
    """Each parameter of export_all_saved_models is given a bad value by some row, so a new
    parameter without a bad-input row fails here."""
    changed = set()
    for row in TABLE.values():
        changed.update(row.change(inputs))
    parameters = set(inspect.signature(estimator_ext.export_all_saved_models).parameters)
    assert parameters <= changed, f"no bad-input row for {sorted(parameters - changed)}"


ACCEPTED = {
    # why it is fine: (assets_extra, expected files in assets.extra -> content)
    "source-symlink-to-outside-file": (
        lambda i: {"secret.txt": i.outside_file_link},
        {"secret.txt": "outside the sandbox"},
    ),
    "nested-and-normalized-destinations": (
        lambda i: {"a/./b/c.txt": i.source, "d\\e.txt": i.source, "f/../g.txt": i.source},
        {"a/b/c.txt": "a\nb\n", "d/e.txt": "a\nb\n", "g.txt": "a\nb\n"},
    ),
    "pathlike-source": (
        lambda i: {"v.txt": pathlib.Path(i.source)},
        {"v.txt": "a\nb\n"},
    ),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_safe_inputs_that_are_accepted(case, inputs, checkpoint_prefix):
    """The edge cases that are safe and therefore accepted: a source symlink pointing
    outside is copied as a regular file (no link inside the export), destinations are
    normalized (``./``, ``f/..``, backslashes), sources may be os.PathLike. ``as_text``
    and ``strip_default_attrs`` accept numpy booleans, ``export_dir_base`` a Path."""
    mapping, expected = ACCEPTED[case]
    export = estimator_ext.export_all_saved_models(
        inputs.estimator,
        pathlib.Path(inputs.base),
        data.adam_receiver_map([MK.TRAIN]),
        assets_extra=mapping(inputs),
        as_text=np.bool_(False),
        strip_default_attrs=np.True_,
    )
    root = os.path.join(export, "assets.extra")
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            assert not os.path.islink(path)
            found[os.path.relpath(path, root)] = pathlib.Path(path).read_text()
    assert found == expected
    assert tree_audit.load_every_mode(export, checkpoint_prefix) == [("train",)]
