"""What the object-store reliability tests share: the store child process and the checks.

The checks read the bucket straight from the store's server (boto3 to ``moto_server``,
the JSON API of fake-gcs-server: ``stores.StoreServer.keys``/``download``), never
through a proxy, download a finished export and load it with TensorFlow's own loader here.
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
from tests.support.stores import StoreServer

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "store_child.py")
TEMP_PREFIX = ".estimator_ext-tmp-"
CLAIM_PREFIX = ".estimator_ext-claim-"


class StoreChild:
    """The ``store_child.py`` process for the ``store`` (``s3`` or ``gs``) its ``env``
    reaches, answering requests one line at a time (bounded)."""

    def __init__(self, store: str, model_dir: str, env: dict[str, str], log_path: str) -> None:
        self._log = open(log_path, "w")
        self._log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, CHILD, model_dir, "--store", store],
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
            f"the store child gave no answer within {timeout} s; its log:\n{self.log_tail()}"
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


def entries(store: StoreServer, prefix: str) -> dict[str, list[str]]:
    """Top-level entry name under ``prefix`` -> the keys below it (relative)."""
    found: dict[str, list[str]] = {}
    for key in store.keys(prefix.rstrip("/") + "/"):
        relative = key[len(prefix.rstrip("/")) + 1 :]
        name, _, rest = relative.partition("/")
        if name:
            found.setdefault(name, []).append(rest)
    return found


def partial_versions(store: StoreServer, prefix: str) -> list[str]:
    """Integer-named directories under ``prefix`` without a saved_model.pb."""
    return sorted(
        name
        for name, keys in entries(store, prefix).items()
        if name.isdigit() and "saved_model.pb" not in keys and "saved_model.pbtxt" not in keys
    )


def leftovers(store: StoreServer, prefix: str) -> list[str]:
    """Hidden temporaries and claim files under ``prefix``."""
    return sorted(
        name for name in entries(store, prefix) if name.startswith((TEMP_PREFIX, CLAIM_PREFIX))
    )


def check_complete_export(store: StoreServer, export_dir: str, checkpoint_prefix: str) -> None:
    """Downloads ``export_dir`` and checks every meta graph loads and every variable
    equals the checkpoint's."""
    prefix = export_dir[len(store.root) + 1 :]
    with tempfile.TemporaryDirectory() as local:
        keys = store.download(prefix, local)
        assert keys, f"{export_dir} is empty"
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


#: Short client timeouts the fault tests set themselves, as a user would: estimator_ext
#: must keep them (its errors name them), and they fit the suites' time budget.
USER_SETTINGS = {
    "s3": {
        # small parts, so the ~100 KB variables and saved_model.pb files are multipart
        # uploads (2 parts each)
        "S3_MULTI_PART_UPLOAD_CHUNK_SIZE": "65536",
        "S3_CONNECT_TIMEOUT_MSEC": "2000",
        "S3_REQUEST_TIMEOUT_MSEC": "3000",
    },
    "gs": {
        "GCS_REQUEST_CONNECTION_TIMEOUT_SECS": "2",
        "GCS_REQUEST_IDLE_TIMEOUT_SECS": "3",
        "GCS_METADATA_REQUEST_TIMEOUT_SECS": "3",
    },
}
#: What a fault test's error must name: the user's own value, kept.
USER_SETTING_SHOWN = {"s3": "S3_REQUEST_TIMEOUT_MSEC=3000", "gs": "GCS_REQUEST_IDLE_TIMEOUT_SECS=3"}
#: The client variables estimator_ext defaults, which the tests leave to it.
LEFT_TO_ESTIMATOR_EXT = {
    "s3": ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"),
    "gs": (
        "GCS_RETRY_CONFIG_MAX_RETRIES",
        "GCS_RETRY_CONFIG_INIT_DELAY_TIME_US",
        "GCS_RETRY_CONFIG_MAX_DELAY_TIME_US",
        "GCS_STAT_CACHE_MAX_AGE",
    ),
}


def fault_env(
    store: str, env: Any, extra: dict[str, str] | None = None, user: bool = True
) -> dict[str, str]:
    """A child's environment for ``store``: ``env(extra)`` (a ``StoreServer.env`` or the
    ``through(port)`` one) with :data:`USER_SETTINGS` when ``user``, the variables of
    :data:`LEFT_TO_ESTIMATOR_EXT` removed."""
    settings = dict(USER_SETTINGS[store]) if user else {}
    settings.update(extra or {})
    child_env = env(settings)
    for name in LEFT_TO_ESTIMATOR_EXT[store]:
        child_env.pop(name, None)
    return child_env


def record_figures(key: str, figures: dict[str, Any]) -> None:
    """Prints a test's figures and, when ``ESTIMATOR_EXT_FIGURES`` names a file, appends
    them to it as one JSON line ``{key: figures}`` (how docs/reliability.md's figures are
    collected: pytest shows a passing test's output only with ``-rP``)."""
    print(key, json.dumps(figures))
    path = os.environ.get("ESTIMATOR_EXT_FIGURES")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps({key: figures}) + "\n")
