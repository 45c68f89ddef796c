"""A model whose PREDICT graph needs a strict subset of its checkpoint, at any size.

Used by tests/variables/test_subset_memory.py, in the test process and as a child process
that measures peak RSS (``python -m tests.support.subset_model export ...``). The model holds every
kind of variable the subset writer must carry bit-identically:

* ``embedding``: one float32 table saved whole, ``rows x 64`` (1 Mi rows = 256 MiB);
* ``parted``: a float32 table in 4 partitions (stored as 4 slices);
* ``res_bias``: a resource variable;
* ``words`` (string) and ``counts`` (int64): non-trainable variables.

Adagrad gives the three trainable ones an accumulator each, which PREDICT leaves out.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any, Callable

import numpy as np
import tensorflow as tf

MK = tf.estimator.ModeKeys
DIM = 64
PARTED_ROWS = 4096
WORDS = 1000
IDS = np.array([[0], [1], [7], [123], [999]], dtype=np.int64)


def model_fn(features: dict[str, Any], labels: Any, mode: str, params: dict[str, Any]) -> Any:
    rows = params["rows"]
    ids = tf.reshape(features["id"], [-1])
    embedding = tf.compat.v1.get_variable(
        "embedding", [rows, DIM], initializer=tf.compat.v1.random_uniform_initializer(-1, 1, seed=1)
    )
    parted = tf.compat.v1.get_variable(
        "parted",
        [PARTED_ROWS, 16],
        initializer=tf.compat.v1.random_normal_initializer(seed=2),
        partitioner=tf.compat.v1.fixed_size_partitioner(4),
    )
    res_bias = tf.compat.v1.get_variable(
        "res_bias",
        [DIM],
        initializer=tf.compat.v1.random_normal_initializer(seed=3),
        use_resource=True,
    )
    word_values = np.array([f"word-{i}-\u00e9\x00\xff".encode() * (i % 5) for i in range(WORDS)])
    words = tf.compat.v1.get_variable(
        "words", initializer=tf.constant(word_values), trainable=False
    )
    counts = tf.compat.v1.get_variable(
        "counts",
        initializer=tf.constant(np.arange(WORDS, dtype=np.int64) * 7919 - 2**40),
        trainable=False,
    )
    emb = tf.nn.embedding_lookup(embedding, ids % rows)
    part = tf.nn.embedding_lookup(parted, ids % PARTED_ROWS)
    predictions = {
        "emb": emb,
        "part": part,
        "res": tf.tile(res_bias[None, :], [tf.shape(ids)[0], 1]),
        "word": tf.gather(words, ids % WORDS),
        "count": tf.gather(counts, ids % WORDS),
    }
    if mode == MK.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    score = tf.reduce_sum(emb + res_bias, axis=1) + tf.reduce_sum(part, axis=1)
    loss = tf.reduce_mean(tf.square(score - tf.reshape(labels, [-1])))
    step = tf.compat.v1.train.get_global_step()
    train_op = tf.compat.v1.train.AdagradOptimizer(0.1).minimize(loss, global_step=step)
    return tf.estimator.EstimatorSpec(mode, predictions=predictions, loss=loss, train_op=train_op)


def make_estimator(model_dir: str, rows: int) -> tf.estimator.Estimator:
    config = tf.estimator.RunConfig(keep_checkpoint_max=1, tf_random_seed=0)
    return tf.estimator.Estimator(
        model_fn, model_dir=model_dir, params={"rows": rows}, config=config
    )


def train(estimator: tf.estimator.Estimator, steps: int = 2) -> str:
    def input_fn() -> Any:
        labels = np.linspace(-1, 1, len(IDS)).astype(np.float32)
        dataset = tf.data.Dataset.from_tensor_slices(({"id": IDS}, labels)).repeat().batch(5)
        return tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()

    estimator.train(input_fn, steps=steps)
    return estimator.latest_checkpoint()


def serving_receiver_fn() -> Any:
    ids = tf.compat.v1.placeholder(tf.int64, [None, 1], name="id")
    return tf.estimator.export.ServingInputReceiver({"id": ids}, {"id": ids})


def receiver_map() -> dict[str, Callable[[], Any]]:
    return {MK.PREDICT: serving_receiver_fn}


def _ru_maxrss_kib() -> int:
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return self_peak + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def measure_export(
    warmup_dir: str, warmup_base: str, model_dir: str, export_base: str, rows: int
) -> dict[str, Any]:
    """Peak RSS of a PREDICT-only export above the baseline, after a small warm-up export.

    The warm-up (the same model_fn, a tiny checkpoint) loads every code path an export
    uses, so what the measured export adds is what its size costs. Two measures, the
    larger reported: ru_maxrss (self + children) after minus before, which misses a peak
    below an earlier one (TF's import peaks higher than it settles); and the high-water
    mark reset just before (``/proc/self/clear_refs``) minus the RSS at that moment.
    """
    import estimator_ext

    estimator_ext.export_all_saved_models(
        make_estimator(warmup_dir, 16), warmup_base, receiver_map()
    )
    estimator = make_estimator(model_dir, rows)
    ru_before = _ru_maxrss_kib()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets VmHWM to the current RSS
    rss_before = _status_kib("VmRSS")
    start = time.monotonic()
    result = estimator_ext.export_all_saved_models(estimator, export_base, receiver_map())
    seconds = time.monotonic() - start
    above_hwm = _status_kib("VmHWM") - rss_before
    above_ru = _ru_maxrss_kib() - ru_before
    return {
        "export_dir": str(result),
        "strategy": result.variables_strategy,
        "baseline_kib": rss_before,
        "above_baseline_kib": max(above_hwm, above_ru),
        "above_hwm_kib": above_hwm,
        "above_ru_maxrss_kib": above_ru,
        "seconds": seconds,
    }


if __name__ == "__main__" and sys.argv[1:2] == ["export"]:
    warmup_dir, warmup_base, model_dir, export_base, rows = sys.argv[2:7]
    print(json.dumps(measure_export(warmup_dir, warmup_base, model_dir, export_base, int(rows))))
