"""Fixtures of the reliability suite.

* One tiny model is trained once per session (``model_dir``); an autouse fixture hashes
  that checkpoint directory before and after every test and fails the test if any byte,
  mode or mtime changed (issue 6, item 7, checked under every attack of the suite).
* ``worker``: one long-lived helper process (``tests/support/worker.py``) that forks the exporting
  processes the multi-process tests kill, race and limit; TensorFlow is imported once.
* Every test runs under a hard deadline (faulthandler dumps the stacks and exits), so a
  hang fails CI instead of stalling it.
* Random choices use a fixed seed (``reliability_seed``), overridable with
  ``ESTIMATOR_EXT_RELIABILITY_SEED`` and reported in failure messages.
"""

from __future__ import annotations

import faulthandler
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import data, tree_audit
from tests.support.gcs_server import GCS_MISSING, GCS_SKIP_REASON
from tests.support.s3server import S3_MISSING, S3_SKIP_REASON
from tests.support.stores import STORES, StoreServer, object_store

PER_TEST_DEADLINE_SECONDS = 240
DEFAULT_SEED = 20240611


@pytest.fixture(autouse=True)
def _deadline() -> Iterator[None]:
    faulthandler.dump_traceback_later(PER_TEST_DEADLINE_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def reliability_seed() -> int:
    return int(os.environ.get("ESTIMATOR_EXT_RELIABILITY_SEED", DEFAULT_SEED))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = str(tmp_path_factory.mktemp("reliability-model"))
    data.train_adam_estimator(directory)
    return directory


@pytest.fixture(scope="session")
def checkpoint_prefix(model_dir: str) -> str:
    import tensorflow as tf

    return tf.train.latest_checkpoint(model_dir)


@pytest.fixture(autouse=True)
def checkpoint_untouched(model_dir: str) -> Iterator[None]:
    """Item 7 under every attack: the checkpoint directory is byte-for-byte unchanged
    (contents, modes, mtimes of files and directories, no entry added or removed)."""
    before = tree_audit.snapshot(model_dir)
    yield
    changes = tree_audit.diff(before, tree_audit.snapshot(model_dir))
    assert not changes, f"the checkpoint directory changed: {changes}"


@pytest.fixture
def estimator(model_dir: str):
    return data.make_adam_estimator(model_dir)


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> str:
    """An empty directory that is also the working directory, so relative paths that
    escape the export land somewhere the test audits."""
    root = tmp_path / "sandbox"
    root.mkdir()
    monkeypatch.chdir(root)
    return str(root)


class WorkerClient:
    """Sends requests to the worker process and waits (bounded) for its answers."""

    def __init__(self, model_dir: str, log_path: str):
        self._log_path = log_path
        self._log = open(log_path, "w")
        worker = os.path.join(os.path.dirname(os.path.abspath(data.__file__)), "worker.py")
        self._process = subprocess.Popen(
            [sys.executable, worker, model_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        ready = self._answer(timeout=120)
        self.pid = ready["ready"]

    def call(self, name: str, timeout: float = 120, **args: Any) -> Any:
        self._process.stdin.write(json.dumps({"name": name, "args": args}) + "\n")
        self._process.stdin.flush()
        answer = self._answer(timeout)
        if "error" in answer:
            raise AssertionError(
                f"worker request {name} failed: {answer['error']}\n{answer['traceback']}"
            )
        return answer["result"]

    def _answer(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._process.poll() is not None:
                raise AssertionError(f"worker process gave no answer; its log:\n{self.log_tail()}")
            if select.select([self._process.stdout], [], [], min(remaining, 1.0))[0]:
                line = self._process.stdout.readline()
                if line:
                    return json.loads(line)

    def log_tail(self, lines: int = 60) -> str:
        self._log.flush()
        with open(self._log_path) as handle:
            return "".join(handle.readlines()[-lines:])

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def worker(model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerClient]:
    client = WorkerClient(model_dir, str(tmp_path_factory.mktemp("worker-log") / "worker.log"))
    yield client
    client.close()


@pytest.fixture(params=STORES)
def object_store_server(request: pytest.FixtureRequest, tmp_path) -> Iterator[StoreServer]:
    """Each object store's server on 127.0.0.1, started for the test (moto for ``s3``;
    fake-gcs-server behind the TLS proxy for ``gs``): one test body serves both stores."""
    if request.param == "s3" and S3_MISSING:
        pytest.skip(S3_SKIP_REASON)
    if request.param == "gs" and GCS_MISSING:
        pytest.skip(GCS_SKIP_REASON)
    directory = tmp_path / f"{request.param}-server"
    directory.mkdir()
    with object_store(request.param, str(directory)) as server:
        yield server
