"""AllModesExporter in a real multi-process estimator cluster on 127.0.0.1.

Four processes (tests/support/cluster_task.py), each with its own ``TF_CONFIG``:
a chief, one parameter server, one worker and an evaluator. Chief and worker train the
model held by the ps over gRPC; the evaluator evaluates each new checkpoint and runs the
exporter. The test waits for chief, worker and evaluator to stop by themselves (bounded
by timeouts), terminates the ps (TF's ps blocks in ``server.join()`` forever), kills any
leftover in ``finally``, then checks the evaluator's exports: complete, the newest
``EXPORTS_TO_KEEP`` only, each from the checkpoint TF evaluated, the final one from the
last checkpoint, loading in all three modes with PREDICT == ``estimator.predict`` on
that checkpoint.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.support import cluster_task

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASK_SCRIPT = os.path.abspath(cluster_task.__file__)

FIRST_CHECKPOINT_TIMEOUT_SECS = 90
RUN_TIMEOUT_SECS = 240


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


class Cluster:
    """Starts and stops the task processes; each one's stdout/stderr go to files."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.model_dir = os.path.join(workdir, "model")
        self.marker_dir = os.path.join(workdir, "markers")
        os.makedirs(self.marker_dir)
        chief, ps, worker = (f"127.0.0.1:{port}" for port in free_ports(3))
        self.cluster_spec = {"chief": [chief], "ps": [ps], "worker": [worker]}
        self.processes = {}

    def start(self, role):
        env = dict(os.environ)
        env.update(
            TF_CONFIG=json.dumps(
                {"cluster": self.cluster_spec, "task": {"type": role, "index": 0}}
            ),
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")])),
            CUDA_VISIBLE_DEVICES="",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        with open(self.log(role, "out"), "wb") as out, open(self.log(role, "err"), "wb") as err:
            self.processes[role] = subprocess.Popen(
                [sys.executable, TASK_SCRIPT, self.model_dir, self.marker_dir],
                stdout=out,
                stderr=err,
                env=env,
            )

    def log(self, role, stream):
        return os.path.join(self.workdir, f"{role}.{stream}")

    def tail(self, role, stream="err", size=3000):
        with open(self.log(role, stream), errors="replace") as handle:
            return handle.read()[-size:]

    def wait(self, role, deadline):
        process = self.processes[role]
        try:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{role} did not stop within the time limit; its log:\n{self.tail(role)}")
        assert process.returncode == 0, (
            f"{role} exited with {process.returncode}:\n{self.tail(role)}"
        )
        with open(self.log(role, "out")) as handle:
            return json.loads(handle.read().strip().splitlines()[-1])

    def wait_for_first_checkpoint(self, deadline):
        while tf.train.latest_checkpoint(self.model_dir) is None:
            for role, process in self.processes.items():
                if process.poll() is not None:
                    pytest.fail(
                        f"{role} exited early with {process.returncode}:\n{self.tail(role)}"
                    )
            if time.monotonic() > deadline:
                pytest.fail(f"the chief wrote no checkpoint in time:\n{self.tail('chief')}")
            time.sleep(0.2)

    def stop_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    cluster = Cluster(str(tmp_path_factory.mktemp("cluster")))
    started = time.monotonic()
    deadline = started + RUN_TIMEOUT_SECS
    try:
        cluster.start("ps")
        cluster.start("chief")
        cluster.start("evaluator")
        cluster.wait_for_first_checkpoint(started + FIRST_CHECKPOINT_TIMEOUT_SECS)
        cluster.start("worker")
        reports = {role: cluster.wait(role, deadline) for role in ("chief", "worker")}
        ps = cluster.processes["ps"]
        assert ps.poll() is None, (
            f"the ps stopped on its own ({ps.returncode}):\n{cluster.tail('ps')}"
        )
        ps.terminate()
        ps.wait(timeout=10)
        reports["evaluator"] = cluster.wait("evaluator", deadline)
    finally:
        cluster.stop_all()
    return {
        "model_dir": cluster.model_dir,
        "reports": reports,
        "seconds": time.monotonic() - started,
    }


def test_chief_and_worker_both_trained_to_max_steps(cluster_run):
    chief, worker = cluster_run["reports"]["chief"], cluster_run["reports"]["worker"]
    assert chief["steps_run"] > 0 and worker["steps_run"] > 0
    # Each step of either task adds one to the global step on the ps; the last checkpoint
    # (the chief's, at the end) holds at least MAX_STEPS and at most every step run.
    final_step = tf.train.load_variable(
        tf.train.latest_checkpoint(cluster_run["model_dir"]), "global_step"
    )
    assert cluster_task.MAX_STEPS <= final_step <= chief["steps_run"] + worker["steps_run"]
    assert chief["exports"] == [] and worker["exports"] == []  # TF exports in the evaluator only


def test_evaluator_exports_each_evaluated_checkpoint_and_keeps_the_newest(cluster_run):
    exports = cluster_run["reports"]["evaluator"]["exports"]
    assert exports, "the evaluator made no export"
    export_path = os.path.join(cluster_run["model_dir"], "export", "all_modes")
    for export in exports:
        assert os.path.dirname(export["export_dir"]) == export_path
        # The evaluated checkpoint's global_step, which the export's variables hold (checked
        # below). Under asynchronous training its file name can lag that value: the saver
        # reads the step for the name, then a worker's update lands before the variables
        # are saved (seen on TF 2.14: model.ckpt-30 holding global_step 31).
        named_step = int(export["checkpoint_path"].rsplit("model.ckpt-", 1)[1])
        assert named_step <= export["global_step"], export
    final = exports[-1]
    assert final["is_the_final_export"] and final["global_step"] >= cluster_task.MAX_STEPS
    kept = [os.path.basename(export["export_dir"]) for export in exports][
        -cluster_task.EXPORTS_TO_KEEP :
    ]
    assert sorted(os.listdir(export_path)) == sorted(kept)  # older ones collected, no temporaries
    for name in kept:
        export_dir = os.path.join(export_path, name)
        assert sorted(os.listdir(export_dir)) == ["saved_model.pb", "variables"]
        step = tf.train.load_variable(
            os.path.join(export_dir, "variables", "variables"), "global_step"
        )
        assert step == next(e["global_step"] for e in exports if e["export_dir"] == export_dir)


def test_final_export_loads_in_all_three_modes_with_predict_parity(cluster_run):
    final = cluster_run["reports"]["evaluator"]["exports"][-1]
    rows, labels = cluster_task.ROWS, cluster_task.LABELS
    # estimator.predict on the very checkpoint the evaluator exported (no cluster here).
    estimator = tf.estimator.LinearClassifier(
        [tf.feature_column.numeric_column("x", shape=[2])], model_dir=cluster_run["model_dir"]
    )
    expected = np.stack(
        [
            p["probabilities"]
            for p in estimator.predict(
                lambda: tf.data.Dataset.from_tensor_slices({"x": rows}).batch(len(rows)),
                checkpoint_path=final["checkpoint_path"],
            )
        ]
    )
    outputs = {}
    for tags, key, feeds, output in (
        (["serve"], "predict", {"x": rows}, "probabilities"),
        (["eval"], "eval", {"x": rows, "label": labels}, "loss"),
        (["train"], "train", {"x": rows, "label": labels}, "loss"),
    ):
        with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, tags, final["export_dir"])
            signature = meta_graph.signature_def[key]
            feed_dict = {
                graph.get_tensor_by_name(signature.inputs[name].name): value
                for name, value in feeds.items()
            }
            outputs[tags[0]] = session.run(
                graph.get_tensor_by_name(signature.outputs[output].name), feed_dict
            )
            if tags == ["train"]:
                assert len(tf.compat.v1.get_collection("saved_model_train_op")) == 1
    np.testing.assert_allclose(outputs["serve"], expected, rtol=1e-6)
    assert outputs["eval"] == pytest.approx(outputs["train"], rel=1e-6)
    assert np.isfinite(outputs["eval"])
