"""One task of a real TF estimator cluster on loopback: chief, ps, worker or evaluator.

Run by tests/distributed/test_distributed_exporter.py as four processes, each with its
own ``TF_CONFIG``; every process runs ``tf.estimator.train_and_evaluate`` with the same
estimator and an ``AllModesExporter`` in the ``EvalSpec`` (TF runs exporters in the
evaluator only). Usage::

    TF_CONFIG=... python cluster_task.py MODEL_DIR MARKER_DIR

The chief trains slowly and, from step ``WAIT_FOR_WORKER_AT_STEP`` on, waits until the
worker has run a step (the worker writes ``MARKER_DIR/worker_stepped``), so the worker
really trains; the test starts the worker once the chief's first checkpoint exists (the
variables are then initialized on the ps), which spares the worker TF's 30 s readiness
poll. The chief, worker and evaluator stop by themselves when the global step reaches
``MAX_STEPS``; the ps blocks in ``server.join()`` forever, as TF's ps always does, and
is terminated by the test. Each process prints one JSON line on stdout when done.
"""

from __future__ import annotations

import json
import os
import sys
import time

import tensorflow as tf

import estimator_ext
from tests.support.data import XY_LABELS as LABELS  # noqa: F401  (read by the test through this module)
from tests.support.data import XY_ROWS as ROWS  # noqa: F401  (read by the test through this module)
from tests.support.data import xy_eval_input_fn as eval_input_fn
from tests.support.data import xy_receiver_fn_map as receiver_fn_map
from tests.support.data import xy_train_input_fn as train_input_fn

MK = tf.estimator.ModeKeys
MAX_STEPS = 60
SAVE_CHECKPOINTS_STEPS = 15
WAIT_FOR_WORKER_AT_STEP = 10
SECONDS_PER_STEP = 0.05
WAIT_FOR_WORKER_TIMEOUT_SECS = 120
EXPORTS_TO_KEEP = 2


def make_estimator(model_dir):
    """The same estimator in every task; RunConfig reads the cluster from TF_CONFIG."""
    config = tf.estimator.RunConfig(
        model_dir=model_dir,
        save_checkpoints_steps=SAVE_CHECKPOINTS_STEPS,
        tf_random_seed=1,
        log_step_count_steps=1000,
        experimental_max_worker_delay_secs=0,  # TF would otherwise hold worker 0 back 5 s
    )
    return tf.estimator.LinearClassifier(
        [tf.feature_column.numeric_column("x", shape=[2])], config=config
    )


class PacedStepsHook(tf.estimator.SessionRunHook):
    """Counts this task's steps, paces them, and coordinates chief and worker via a file."""

    def __init__(self, marker_path, role):
        self.marker_path = marker_path
        self.role = role
        self.steps_run = 0
        self.last_global_step = None

    def begin(self):
        self._global_step = tf.compat.v1.train.get_global_step()

    def before_run(self, run_context):
        return tf.estimator.SessionRunArgs(self._global_step)

    def after_run(self, run_context, run_values):
        self.steps_run += 1
        self.last_global_step = int(run_values.results)
        if self.role == "worker" and self.steps_run == 1:
            with open(self.marker_path, "w") as marker:
                marker.write(str(self.last_global_step))
        if self.role == "chief" and self.last_global_step >= WAIT_FOR_WORKER_AT_STEP:
            deadline = time.monotonic() + WAIT_FOR_WORKER_TIMEOUT_SECS
            while not os.path.exists(self.marker_path):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the worker ran no step within {WAIT_FOR_WORKER_TIMEOUT_SECS}s"
                    )
                time.sleep(0.1)
        time.sleep(SECONDS_PER_STEP)


class RecordingExporter(estimator_ext.AllModesExporter):
    """The real exporter, noting each export and the global step TF evaluated."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.exports = []

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        result = super().export(
            estimator, export_path, checkpoint_path, eval_result, is_the_final_export
        )
        self.exports.append(
            {
                "export_dir": str(result),
                "checkpoint_path": checkpoint_path,
                "global_step": int(eval_result["global_step"]),
                "is_the_final_export": bool(is_the_final_export),
            }
        )
        return result


def main(model_dir, marker_dir):
    role = json.loads(os.environ["TF_CONFIG"])["task"]["type"]
    estimator = make_estimator(model_dir)
    hook = PacedStepsHook(os.path.join(marker_dir, "worker_stepped"), role)
    exporter = RecordingExporter("all_modes", receiver_fn_map(), exports_to_keep=EXPORTS_TO_KEEP)
    started = time.monotonic()
    tf.estimator.train_and_evaluate(
        estimator,
        tf.estimator.TrainSpec(train_input_fn, max_steps=MAX_STEPS, hooks=[hook]),
        tf.estimator.EvalSpec(
            eval_input_fn, steps=1, exporters=[exporter], start_delay_secs=0, throttle_secs=1
        ),
    )
    report = {
        "role": role,
        "steps_run": hook.steps_run,
        "global_step_before_last_step": hook.last_global_step,
        "exports": exporter.exports,
        "seconds": round(time.monotonic() - started, 2),
    }
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
