"""What the object-store reliability tests share: the S3 child process and the checks.

The checks read the bucket with boto3 straight from ``moto_server`` (never through the
fault proxy), download a finished export and load it with TensorFlow's own loader here.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
import tensorflow as tf

from tests.support import data as _model
from tests.support.s3server import BUCKET, bucket_keys

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "s3_child.py")
TEMP_PREFIX = ".estimator_ext-tmp-"
CLAIM_PREFIX = ".estimator_ext-claim-"


class S3Child:
    """The ``s3_child.py`` process, answering requests one line at a time (bounded)."""

    def __init__(self, model_dir: str, env: dict[str, str], log_path: str) -> None:
        self._log = open(log_path, "w")
        self._log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, CHILD, model_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            env=env,
        )
        self.pid = self._answer(120)["ready"]

    def send(self, request: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def call(self, request: dict[str, Any], timeout: float = 240) -> dict[str, Any]:
        self.send(request)
        return self._answer(timeout)

    def _answer(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline and self.process.poll() is None:
            if select.select([self.process.stdout], [], [], 1.0)[0]:
                line = self.process.stdout.readline()
                if line:
                    return json.loads(line)
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGUSR1)
            time.sleep(2)
        raise AssertionError(
            f"the S3 child gave no answer within {timeout} s; its log:\n{self.log_tail()}"
        )

    def log_tail(self) -> str:
        self._log.flush()
        with open(self._log_path) as handle:
            return handle.read()[-4000:]

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send({"op": "quit"})
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._log.close()


def entries(client: Any, prefix: str) -> dict[str, list[str]]:
    """Top-level entry name under ``prefix`` -> the keys below it (relative)."""
    found: dict[str, list[str]] = {}
    for key in bucket_keys(client, prefix.rstrip("/") + "/"):
        relative = key[len(prefix.rstrip("/")) + 1 :]
        name, _, rest = relative.partition("/")
        found.setdefault(name, []).append(rest)
    return found


def partial_versions(client: Any, prefix: str) -> list[str]:
    """Integer-named directories under ``prefix`` without a saved_model.pb."""
    return sorted(
        name
        for name, keys in entries(client, prefix).items()
        if name.isdigit() and "saved_model.pb" not in keys and "saved_model.pbtxt" not in keys
    )


def leftovers(client: Any, prefix: str) -> list[str]:
    """Hidden temporaries and claim files under ``prefix``."""
    return sorted(
        name for name in entries(client, prefix) if name.startswith((TEMP_PREFIX, CLAIM_PREFIX))
    )


def check_complete_export(client: Any, export_dir: str, checkpoint_prefix: str) -> None:
    """Downloads ``export_dir`` and checks every meta graph loads and every variable
    equals the checkpoint's."""
    prefix = export_dir[len(f"s3://{BUCKET}/") :]
    keys = bucket_keys(client, prefix + "/")
    assert keys, f"{export_dir} is empty"
    with tempfile.TemporaryDirectory() as local:
        for key in keys:
            destination = os.path.join(local, key[len(prefix) + 1 :])
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            client.download_file(BUCKET, key, destination)
        exported = tf.train.load_checkpoint(os.path.join(local, "variables", "variables"))
        original = tf.train.load_checkpoint(checkpoint_prefix)
        names = exported.get_variable_to_shape_map()
        assert {"weights", "bias", "big"} <= set(names), sorted(names)
        for name in names:
            np.testing.assert_array_equal(
                exported.get_tensor(name), original.get_tensor(name), err_msg=name
            )
        for tags in _model.TAGS_BY_MODE.values():
            with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
                meta_graph = tf.compat.v1.saved_model.loader.load(session, list(tags), local)
                assert meta_graph.signature_def, tags
                variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
                restored = session.run(variables["weights"])
                np.testing.assert_array_equal(
                    restored, original.get_tensor("weights"), err_msg=str(tags)
                )


def fault_env(endpoint: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    from tests.support.s3server import s3_env

    settings = {
        # small parts, so the ~100 KB variables and saved_model.pb files are multipart
        # uploads (2 parts each)
        "S3_MULTI_PART_UPLOAD_CHUNK_SIZE": "65536",
        # set by the test (estimator_ext must keep what the user set), short for speed
        "S3_CONNECT_TIMEOUT_MSEC": "2000",
        "S3_REQUEST_TIMEOUT_MSEC": "3000",
    }
    settings.update(extra or {})
    env = s3_env(endpoint, settings)
    for name in ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):
        env.pop(name, None)  # left to estimator_ext's defaults
    return env
