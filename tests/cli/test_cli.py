"""The estimator-ext command line: run, inspect, export, and every bad input as one line.

``main(argv)`` is called in-process where that shows the behaviour (fast); a few runs go
through ``python -m estimator_ext`` in a fresh interpreter to check real exit statuses
and the split of stdout / stderr. Exports are real, from a tiny LinearClassifier trained
once for the module, and are compared with TensorFlow's own loaders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from estimator_ext import cli
from estimator_ext.serving.saved_model_file import read_saved_model
from tests.support import data
from tests.support.tensorflow_output import without_tensorflow_startup

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBPROCESS_TIMEOUT = 240

FACTORY_MODULE = """
import tensorflow as tf

FEATURE_SPECS = {
    "x1": tf.TensorSpec([None, 1], tf.float32, name="x1"),
    "x2": tf.TensorSpec([None, 1], tf.float32, name="x2"),
    "color": tf.TensorSpec([None, 1], tf.string, name="color"),
}


def make_estimator(model_dir=None):
    columns = [
        tf.feature_column.numeric_column("x1"),
        tf.feature_column.numeric_column("x2"),
        tf.feature_column.categorical_column_with_vocabulary_list(
            "color", ["red", "green", "blue"]
        ),
    ]
    return tf.estimator.LinearClassifier(columns, model_dir=model_dir)


def _serving():
    placeholders = {
        name: tf.compat.v1.placeholder(spec.dtype, spec.shape, name=name)
        for name, spec in FEATURE_SPECS.items()
    }
    return tf.estimator.export.ServingInputReceiver(placeholders, placeholders)


def receivers():
    import estimator_ext

    supervised = estimator_ext.build_raw_supervised_input_receiver_fn(
        FEATURE_SPECS, tf.TensorSpec([None, 1], tf.int64, name="label"))
    return {"train": supervised, "eval": supervised, "infer": _serving}


PREDICT_ONLY = {"infer": _serving}
BAD_KEYS = {"predict": _serving}
NOT_A_FACTORY = 42


def not_an_estimator(model_dir=None):
    return "an estimator, honest"
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model_dir, checkpoint prefix after the first round, export of all modes)."""
    root = tmp_path_factory.mktemp("cli")
    model_dir = str(root / "model")
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)
    estimator.train(data.input_fn(), steps=5)
    first_checkpoint = estimator.latest_checkpoint()
    estimator.train(data.input_fn(), steps=5)
    asset = root / "notes.txt"
    asset.write_text("hello")
    export = estimator_ext.export_all_saved_models(
        estimator,
        str(root / "exports"),
        data.receiver_map(),
        assets_extra={"docs/notes.txt": str(asset)},
    )
    return model_dir, first_checkpoint, str(export)


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    """A user module in the current directory, importable as ``user_model``."""
    (tmp_path / "user_model.py").write_text(FACTORY_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + sys.path)
    monkeypatch.delitem(sys.modules, "user_model", raising=False)
    yield tmp_path
    sys.modules.pop("user_model", None)


def run_main(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, out, err, *fragments):
    assert status != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("estimator-ext") and "error:" in lines[0], lines[0]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def python_m_estimator_ext(*argv, cwd):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "estimator_ext", *argv],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


# --- inspect ---


def test_inspect_json_matches_what_tensorflow_loads(trained, capsys):
    _, _, export = trained
    status, out, err = run_main(capsys, "inspect", export, "--json")
    assert status == 0 and err == ""
    description = json.loads(out)
    by_tags = {tuple(meta["tags"]): meta for meta in description["meta_graphs"]}
    assert set(by_tags) == {("train",), ("eval",), ("serve",)}
    assert [by_tags[tags]["has_train_op"] for tags in (("train",), ("eval",), ("serve",))] == [
        True,
        False,
        False,
    ]

    serving = by_tags[("serve",)]["signatures"]["serving_default"]
    assert serving["inputs"] == {
        "color": {"name": "color:0", "dtype": "string", "shape": [None, 1]},
        "x1": {"name": "x1:0", "dtype": "float32", "shape": [None, 1]},
        "x2": {"name": "x2:0", "dtype": "float32", "shape": [None, 1]},
    }
    # Parity with TF 2's own loader of the same SavedModel.
    loaded = tf.saved_model.load(export, tags=["serve"]).signatures["serving_default"]
    for name, spec in loaded.structured_outputs.items():
        assert serving["outputs"][name]["dtype"] == spec.dtype.name
        assert serving["outputs"][name]["shape"] == spec.shape.as_list()
    train_signature = by_tags[("train",)]["signatures"]["train"]
    assert set(train_signature["inputs"]) == {"x1", "x2", "color", "label"}
    assert train_signature["outputs"]["loss"]["shape"] == []

    variables_on_disk = sum(
        os.path.getsize(os.path.join(export, "variables", name))
        for name in os.listdir(os.path.join(export, "variables"))
    )
    assert description["variables"] == {"files": 2, "bytes": variables_on_disk}
    assert description["assets_extra"] == ["docs/notes.txt"]
    # The train graph also holds the optimizer's slots; every graph holds the model's weights.
    train_variables, serve_variables = (
        by_tags[("train",)]["variables"],
        by_tags[("serve",)]["variables"],
    )
    assert train_variables["count"] > serve_variables["count"] > 0
    checkpoint = tf.train.load_checkpoint(os.path.join(export, "variables", "variables"))
    weights_bytes = sum(
        checkpoint.get_tensor(name).nbytes
        for name in checkpoint.get_variable_to_shape_map()
        if name.startswith("linear/") or name == "global_step"
    )
    assert serve_variables["bytes"] == weights_bytes


def test_inspect_table_is_readable(trained, capsys):
    _, _, export = trained
    status, out, err = run_main(capsys, "inspect", export)
    assert status == 0 and err == ""
    assert out.startswith(f"SavedModel {export}\n")
    assert "MetaGraph 1: tags train" in out and "tags eval" in out and "tags serve" in out
    assert out.count("train op:   yes") == 1 and out.count("train op:   no") == 2
    assert "assets.extra/  docs/notes.txt" in out
    for expected in (
        "signature 'serving_default'",
        "signature 'train'",
        "signature 'eval'",
        "input   x1",
        "float32",
        "(None, 1)",
        "x1:0",
        "output  loss",
    ):
        assert expected in out, expected


# --- export ---


def test_export_end_to_end_with_predict_parity(trained, factory_module, capsys):
    model_dir, _, _ = trained
    base = factory_module / "exports"
    status, out, err = run_main(
        capsys,
        "export",
        "--estimator",
        "user_model:make_estimator",
        "--receivers",
        "user_model:receivers",
        "--model-dir",
        model_dir,
        str(base),
    )
    assert status == 0, err
    export = out.strip()
    assert out == export + "\n" and os.path.dirname(export) == str(base)
    for mode in (
        "'train' (ModeKeys.TRAIN)",
        "'eval' (ModeKeys.EVAL)",
        "'infer' (ModeKeys.PREDICT)",
    ):
        assert f"estimator-ext: Building the {mode} graph" in err
    assert "estimator-ext: wrote train, eval, infer: variables from train" in err
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)
    data.assert_predict_parity(estimator, export)
    data.assert_train_trains(export)


def test_export_from_an_older_checkpoint_with_a_receiver_dict(trained, factory_module, capsys):
    model_dir, first_checkpoint, _ = trained
    status, out, err = run_main(
        capsys,
        "export",
        "--estimator",
        "user_model:make_estimator",
        "--receivers",
        "user_model:PREDICT_ONLY",
        "--model-dir",
        model_dir,
        "--checkpoint",
        first_checkpoint,
        str(factory_module / "old"),
    )
    assert status == 0, err
    exported = tf.train.load_checkpoint(os.path.join(out.strip(), "variables", "variables"))
    assert exported.get_tensor("global_step") == 5
    expected = tf.train.load_checkpoint(first_checkpoint)
    np.testing.assert_array_equal(
        exported.get_tensor("linear/linear_model/x1/weights"),
        expected.get_tensor("linear/linear_model/x1/weights"),
    )


def test_export_through_python_m_in_a_fresh_interpreter(trained, factory_module):
    model_dir, _, _ = trained
    result = python_m_estimator_ext(
        "export",
        "--estimator",
        "user_model:make_estimator",
        "--receivers",
        "user_model:PREDICT_ONLY",
        "--model-dir",
        model_dir,
        "exports",
        cwd=factory_module,
    )
    assert result.returncode == 0, result.stderr
    export = result.stdout.strip()
    assert result.stdout.count("\n") == 1 and os.path.isabs(export) is False
    assert "Building the 'infer' (ModeKeys.PREDICT) graph" in result.stderr
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)
    data.assert_predict_parity(estimator, str(factory_module / export))


# --- export's progress: a bar on a terminal, plain lines elsewhere, nothing with --quiet ---

EXPORT_PREDICT_ONLY = [
    "export",
    "--estimator",
    "user_model:make_estimator",
    "--receivers",
    "user_model:PREDICT_ONLY",
]


def test_export_progress_off_a_terminal_is_plain_lines(trained, factory_module, capsys):
    model_dir, _, _ = trained
    status, _, err = run_main(capsys, *EXPORT_PREDICT_ONLY, "--model-dir", model_dir, "out")
    assert status == 0, err
    assert "\r" not in err and "[#" not in err
    lines = err.splitlines()
    assert "estimator-ext: Built the 'infer' (ModeKeys.PREDICT) graph (1 of 1)" in lines
    written = [line for line in lines if line.startswith("estimator-ext: Writing variables:")]
    assert written and written[-1].endswith("(100%)"), err


def test_export_quiet_shows_no_progress_and_still_prints_the_export(
    trained, factory_module, capsys
):
    model_dir, _, _ = trained
    status, out, err = run_main(
        capsys, *EXPORT_PREDICT_ONLY, "--model-dir", model_dir, "--quiet", "out"
    )
    assert status == 0, err
    # Only warnings are left (this receiver earns one about serving_default).
    assert err and all(line.startswith("estimator-ext: warning: ") for line in err.splitlines())
    assert "Writing" not in err and "Built" not in err and "wrote" not in err
    assert os.path.isfile(os.path.join(factory_module, out.strip(), "saved_model.pb"))


def _run_with_stderr_on_a_terminal(argv, cwd, quiet=False):
    """Runs ``python -m estimator_ext`` with stderr on a pseudo-terminal; (status, stderr)."""
    import pty
    import select
    import time

    leader, follower = pty.openpty()
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2", COLUMNS="100")
    process = subprocess.Popen(
        [sys.executable, "-m", "estimator_ext", *argv],
        cwd=str(cwd),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    received = bytearray()
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                received += chunk
            elif process.poll() is not None:
                break
        status = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
        process.stdout.close()
    return status, received.decode("utf-8", "replace")


def test_export_draws_a_bar_when_stderr_is_a_terminal(trained, factory_module):
    model_dir, _, _ = trained
    argv = [*EXPORT_PREDICT_ONLY, "--model-dir", model_dir, "exports"]
    status, err = _run_with_stderr_on_a_terminal(argv, factory_module)
    assert status == 0, err
    assert "\r" in err
    assert "estimator-ext: Writing variables [########################] 100%" in err
    # The bar's line is ended before the next message, which starts a line of its own.
    after_bar = err.split("100%", 1)[1]
    assert "\nestimator-ext: wrote infer" in after_bar.replace("\r\n", "\n"), err

    status, err = _run_with_stderr_on_a_terminal([*argv[:-1], "--quiet", "quiet"], factory_module)
    assert status == 0, err
    assert "Writing variables" not in err and "\r" not in err.replace("\r\n", "\n"), err


# --- bad input: one line, non-zero, no traceback ---


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["inspect", "{tmp}/missing"], ["EXPORT_DIR", "does not exist"]),
        (["inspect", "{tmp}/empty"], ["is not a SavedModel"]),
        (["inspect", "{tmp}/a_file.txt"], ["is a file"]),
        (["inspect", "{tmp}/corrupt"], ["not a readable SavedModel"]),
        (["inspect", "{base}"], ["is not a SavedModel", "the newest is"]),
        (
            [
                "export",
                "--estimator",
                "user_model",
                "--receivers",
                "user_model:receivers",
                "{tmp}/out",
            ],
            ["--estimator must be MODULE:NAME", "'user_model'"],
        ),
        (
            [
                "export",
                "--estimator",
                "no_such_module:make",
                "--receivers",
                "user_model:receivers",
                "{tmp}/out",
            ],
            ["no module named 'no_such_module'"],
        ),
        (
            [
                "export",
                "--estimator",
                "user_model:make_estimater",
                "--receivers",
                "user_model:receivers",
                "{tmp}/out",
            ],
            ["has no attribute 'make_estimater'", "Did you mean 'make_estimator'?"],
        ),
        (
            [
                "export",
                "--estimator",
                "user_model:NOT_A_FACTORY",
                "--receivers",
                "user_model:receivers",
                "{tmp}/out",
            ],
            ["expected a function returning a tf.estimator.Estimator"],
        ),
        (
            [
                "export",
                "--estimator",
                "user_model:not_an_estimator",
                "--receivers",
                "user_model:receivers",
                "{tmp}/out",
            ],
            ["returned a str, expected a tf.estimator.Estimator"],
        ),
        (
            [
                "export",
                "--estimator",
                "user_model:make_estimator",
                "--receivers",
                "user_model:NOT_A_FACTORY",
                "{tmp}/out",
            ],
            ["--receivers", "must be a dict of tf.estimator.ModeKeys"],
        ),
        (
            [
                "export",
                "--estimator",
                "user_model:make_estimator",
                "--receivers",
                "user_model:BAD_KEYS",
                "--model-dir",
                "{model_dir}",
                "{tmp}/out",
            ],
            ["export failed: ValueError", "Did you mean ModeKeys.PREDICT ('infer')?"],
        ),
        (
            [
                "export",
                "--estimator",
                "user_model:make_estimator",
                "--receivers",
                "user_model:receivers",
                "--model-dir",
                "{tmp}/untrained",
                "{tmp}/out",
            ],
            ["export failed: ValueError: export_all_saved_models: No checkpoint found"],
        ),
        (["export", "--receivers", "user_model:receivers", "{tmp}/out"], ["--estimator"]),
        (["convert", "{export}", "{tmp}/out"], ["--serve-only is required"]),
        (["convert", "--serve-only", "{tmp}/missing", "{tmp}/out"], ["EXPORT", "does not exist"]),
        (["convert", "--serve-only", "{base}", "{tmp}/out"], ["EXPORT", "the newest is"]),
        (["convert", "--serve-only", "{tmp}/corrupt", "{tmp}/out"], ["not a readable SavedModel"]),
        (["convert", "--serve-only", "{export}", "{tmp}/empty"], ["OUT", "already exists"]),
        (["convert", "--serve-only", "{export}", "{export}/out"], ["OUT", "inside the export"]),
        (["convert", "--serve-only", "{export}"], ["required: OUT"]),
        (["run", "{tmp}/no_such_script.py"], ["script", "no_such_script.py", "not found"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
        ([], ["COMMAND"]),
    ],
)
def test_bad_input_is_one_line_without_traceback(argv, fragments, trained, factory_module, capsys):
    model_dir, _, export = trained
    tmp = factory_module
    (tmp / "empty").mkdir()
    (tmp / "a_file.txt").write_text("not a model")
    (tmp / "corrupt").mkdir()
    (tmp / "corrupt" / "saved_model.pb").write_bytes(b"\x00garbage\xff" * 10)
    filled = [
        arg.format(tmp=tmp, base=os.path.dirname(export), model_dir=model_dir, export=export)
        for arg in argv
    ]
    export_files = data.listing(export)
    status, out, err = run_main(capsys, *filled)
    assert_one_line_error(status, out, err, *fragments)
    assert not (tmp / "out").exists(), "a failed export left its directory behind"
    assert data.listing(str(tmp / "empty")) == [] and data.listing(export) == export_files


def test_bad_input_in_a_fresh_interpreter_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for argv, fragment in (
        (["inspect", "empty"], "is not a SavedModel"),
        (["run", "missing.py"], "not found"),
        (["export", "--estimator", "x", "--receivers", "y:z", "out"], "MODULE:NAME"),
    ):
        result = python_m_estimator_ext(*argv, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stdout == ""
        lines = without_tensorflow_startup(result.stderr.strip())
        assert len(lines) == 1 and fragment in lines[0], result.stderr
        assert "Traceback" not in result.stderr


# --- convert ---


def test_convert_end_to_end_with_predict_parity(trained, tmp_path, capsys):
    model_dir, _, export = trained
    output_dir = str(tmp_path / "keras" / "model")
    status, out, err = run_main(capsys, "convert", "--serve-only", export, output_dir)
    assert status == 0, err
    assert out == output_dir + "\n"
    assert err.strip().splitlines()[-1] == (
        f"estimator-ext: converted the serve graph of {export}: signatures predict, "
        "serving_default; dropped the meta graphs train, eval"
    )
    assert sorted(os.listdir(tmp_path / "keras")) == ["model"]
    loaded = tf.saved_model.load(output_dir)  # one meta graph: no tags=
    outputs = loaded.signatures["serving_default"](
        **{name: tf.constant(value) for name, value in data.features_np(slice(0, 12)).items()}
    )
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)
    expected = data.estimator_predictions(estimator, slice(0, 12))
    for key in ("probabilities", "logistic", "class_ids"):
        want = np.stack([row[key] for row in expected])
        np.testing.assert_allclose(outputs[key].numpy(), want, rtol=1e-5, atol=1e-6, err_msg=key)
    status, out, _ = run_main(capsys, "--help")
    assert status == 0 and "convert" in out


def test_convert_through_python_m_exit_statuses(trained, tmp_path):
    _, _, export = trained
    result = python_m_estimator_ext(
        "convert", "--serve-only", "--quiet", export, "out", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "out\n"
    assert "converted" not in result.stderr
    meta_graphs = read_saved_model(str(tmp_path / "out")).meta_graphs
    assert [list(graph.meta_info_def.tags) for graph in meta_graphs] == [["serve"]]
    again = python_m_estimator_ext("convert", "--serve-only", export, "out", cwd=tmp_path)
    assert again.returncode == 2 and again.stdout == ""
    # (TensorFlow 2.16+ writes its C++ start-up lines to stderr whatever TF_CPP_MIN_LOG_LEVEL)
    ours = [line for line in again.stderr.splitlines() if line.startswith("estimator-ext")]
    assert ours == [
        "estimator-ext convert: error: OUT 'out' already exists; give a path that does not "
        "exist yet (the converted SavedModel is created there), or remove it first."
    ]
    assert "Traceback" not in again.stderr
    assert sorted(os.listdir(tmp_path)) == ["out"]


# --- run ---

ARGV_SCRIPT = """
import json, os, pickle, sys
import tensorflow as tf


class Defined:
    pass


print(json.dumps({
    "argv": sys.argv,
    "name": __name__,
    "file": __file__,
    "path0": sys.path[0],
    "pickles_as_main": type(pickle.loads(pickle.dumps(Defined()))).__module__,
    "contrib": callable(tf.contrib.estimator.export_all_saved_models),
    "method": hasattr(tf.estimator.LinearClassifier, "export_all_saved_models"),
}))
"""


def test_run_gives_the_script_its_argv_main_and_path(tmp_path, capsys, monkeypatch):
    script = tmp_path / "scripts" / "show.py"
    script.parent.mkdir()
    script.write_text(ARGV_SCRIPT)
    monkeypatch.chdir(tmp_path)
    argv_before, path_before = list(sys.argv), list(sys.path)
    status, out, err = run_main(capsys, "run", "scripts/show.py", "--json", "-x", "--", "last")
    assert status == 0, err
    report = json.loads(out)
    assert report["argv"] == ["scripts/show.py", "--json", "-x", "--", "last"]
    assert report["name"] == "__main__" and report["pickles_as_main"] == "__main__"
    assert report["file"] == "scripts/show.py"
    assert report["path0"] == str(script.parent)
    assert report["contrib"] is True and report["method"] is True
    assert sys.argv == argv_before and sys.path == path_before
    assert not hasattr(tf, "contrib")


@pytest.mark.parametrize(
    "body, status, stderr_fragment",
    [
        ("print('fine')", 0, None),
        ("import sys; sys.exit()", 0, None),
        ("import sys; sys.exit(3)", 3, None),
        ("import sys; sys.exit('went wrong')", 1, "went wrong"),
        ("def inner():\n    raise ValueError('boom')\ninner()", 1, "ValueError: boom"),
        ("def broken(:\n    pass", 1, "SyntaxError"),
    ],
)
def test_run_exit_statuses_are_the_scripts(body, status, stderr_fragment, tmp_path, capsys):
    script = tmp_path / "script.py"
    script.write_text(body + "\n")
    got, out, err = run_main(capsys, "run", str(script))
    assert got == status
    if stderr_fragment:
        assert stderr_fragment in err
    if "ValueError" in body:
        # The script's traceback as Python prints it: its own frames, not runpy's or ours.
        assert err.startswith("Traceback (most recent call last):")
        assert "runpy" not in err and "estimator_ext" not in err
        assert f'File "{script}", line 3' in err and "in inner" in err


def test_run_through_python_m_propagates_the_exit_status(tmp_path):
    script = tmp_path / "exits.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        import tensorflow as tf
        print(sys.argv[1:], callable(tf.contrib.estimator.export_saved_model_for_mode))
        sys.exit(int(sys.argv[1]))
    """)
    )
    result = python_m_estimator_ext("run", str(script), "7", "--flag", cwd=tmp_path)
    assert result.returncode == 7, result.stderr
    assert result.stdout.strip() == "['7', '--flag'] True"


def test_help_exits_zero(capsys):
    status, out, _ = run_main(capsys, "--help")
    assert status == 0 and "run" in out and "inspect" in out and "export" in out
    status, out, _ = run_main(capsys, "run", "--help")
    assert status == 0 and "SCRIPT" in out
