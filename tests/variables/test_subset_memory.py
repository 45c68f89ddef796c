"""A PREDICT-only export of a large checkpoint writes its subset in bounded memory.

The checkpoint (tests/support/subset_model.py) holds a 256 MiB float32 embedding saved whole, its
256 MiB Adagrad accumulator, a partitioned table, a resource variable, and string and
int64 variables. A PREDICT-only export leaves the accumulators out, so its variables are
a strict subset. It runs in a child process that measures peak RSS (ru_maxrss of itself
and its children) above a baseline taken after a warm-up export: it must stay <= 64 MiB
(before the byte-range writer it was about 1x the embedding, 265 MiB). Then the export is
read back with three loaders we did not write (the TF1 loader, tf.saved_model.load,
saved_model_cli run) and every value must be bit-identical to the checkpoint's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from estimator_ext.variables import strategies
from tests.support import subset_model
from tests.support.subset_model import IDS, PARTED_ROWS, WORDS

ROWS = 1 << 20  # x 64 float32 = 256 MiB, and as much again for its Adagrad slot
LIMIT_KIB = 64 * 1024
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREDICT_VARIABLES = {"embedding", "parted", "res_bias", "words", "counts", "global_step"}


@pytest.fixture(scope="module")
def big(tmp_path_factory, trained_subset_model):
    """The trained big checkpoint, the warm-up one (the suite's shared small subset model,
    read-only), and the measured child export."""
    base = tmp_path_factory.mktemp("subset_memory")
    checkpoint = subset_model.train(subset_model.make_estimator(str(base / "model"), ROWS))
    warmup_dir = trained_subset_model.model_dir
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    args = [
        warmup_dir,
        str(base / "warmup_exports"),
        str(base / "model"),
        str(base / "exports"),
        str(ROWS),
    ]
    child = subprocess.run(
        [sys.executable, "-m", "tests.support.subset_model", "export", *args],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    reader = tf.train.load_checkpoint(checkpoint)
    tensors = {name: reader.get_tensor(name) for name in PREDICT_VARIABLES}
    return {
        "checkpoint": checkpoint,
        "warmup": warmup_dir,
        "measured": measured,
        "export": measured["export_dir"],
        "tensors": tensors,
    }


def _assert_bit_identical(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if want.dtype == object:
        assert got.tolist() == want.tolist(), what
    else:
        assert got.tobytes() == want.tobytes(), what


def _expected_outputs(tensors):
    ids = IDS.reshape(-1)
    return {
        "emb": tensors["embedding"][ids % ROWS],
        "part": tensors["parted"][ids % PARTED_ROWS],
        "res": np.tile(tensors["res_bias"][None, :], [len(ids), 1]),
        "word": tensors["words"][ids % WORDS],
        "count": tensors["counts"][ids % WORDS],
    }


def test_predict_only_export_of_a_256_mib_table_stays_under_64_mib_above_baseline(big):
    measured = big["measured"]
    print(f"peak RSS above baseline: {measured['above_baseline_kib'] / 1024:.1f} MiB ({measured})")
    assert measured["strategy"] == strategies.STREAM
    assert measured["above_baseline_kib"] <= LIMIT_KIB, measured


def test_export_holds_exactly_what_predict_needs(big):
    variables = os.path.join(big["export"], "variables")
    assert sorted(os.listdir(variables)) == ["variables.data-00000-of-00001", "variables.index"]
    names = {name for name, _ in tf.train.list_variables(os.path.join(variables, "variables"))}
    assert names == PREDICT_VARIABLES  # no Adagrad accumulators
    data_bytes = os.path.getsize(os.path.join(variables, "variables.data-00000-of-00001"))
    assert ROWS * 64 * 4 < data_bytes < ROWS * 64 * 4 + (1 << 20)


def test_tf1_loader_restores_every_variable_bit_identical(big):
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        tf.compat.v1.saved_model.loader.load(session, ["serve"], big["export"])
        variables = graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
        by_name = {}
        for variable in variables:
            by_name.setdefault(variable.op.name.split("/part_")[0], []).append(variable)
        assert set(by_name) == PREDICT_VARIABLES
        assert len(by_name["parted"]) == 4
        for name, parts in by_name.items():
            values = session.run(sorted(parts, key=lambda v: v.op.name))  # part_0 .. part_3
            value = np.concatenate(values) if len(values) > 1 else values[0]
            _assert_bit_identical(value, big["tensors"][name], name)


def test_tf_saved_model_load_serves_bit_identical_values(big):
    loaded = tf.saved_model.load(big["export"], tags=["serve"])
    outputs = loaded.signatures["serving_default"](id=tf.constant(IDS))
    expected = _expected_outputs(big["tensors"])
    assert set(outputs) == set(expected)
    for key, value in outputs.items():
        _assert_bit_identical(value.numpy(), expected[key], key)


def test_saved_model_cli_run_serves_bit_identical_values(big, tmp_path):
    cli = shutil.which("saved_model_cli", path=os.path.dirname(sys.executable))
    assert cli, "saved_model_cli is installed with tensorflow"
    outdir = tmp_path / "outputs"
    ids = repr(IDS.tolist())  # a literal: saved_model_cli evaluates nothing else
    run = subprocess.run(
        [
            cli,
            "run",
            "--dir",
            big["export"],
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            f"id={ids}",
            "--outdir",
            str(outdir),
        ],
        check=False,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    expected = _expected_outputs(big["tensors"])
    assert sorted(os.listdir(outdir)) == sorted(f"{key}.npy" for key in expected)
    for key, value in expected.items():
        _assert_bit_identical(np.load(outdir / f"{key}.npy", allow_pickle=True), value, key)


def test_a_truncated_checkpoint_fails_the_export_and_leaves_nothing(big, tmp_path):
    prefix = tf.train.latest_checkpoint(big["warmup"])
    copy = str(tmp_path / "ckpt" / "model.ckpt")
    os.makedirs(os.path.dirname(copy))
    shutil.copy(prefix + ".index", copy + ".index")
    with open(prefix + ".data-00000-of-00001", "rb") as data_file:
        data = data_file.read()
    with open(copy + ".data-00000-of-00001", "wb") as data_file:
        data_file.write(data[: len(data) // 3])
    base = tmp_path / "exports"
    estimator = subset_model.make_estimator(big["warmup"], 16)
    with pytest.raises(
        ValueError,
        match=r"model\.ckpt\.data-00000-of-00001' ends \d+ bytes before the end of tensor "
        r".*truncated",
    ):
        estimator_ext.export_all_saved_models(
            estimator, str(base), subset_model.receiver_map(), checkpoint_path=copy
        )
    assert not base.exists()
