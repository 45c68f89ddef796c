"""A real S3 server on loopback for the tests: ``moto_server``, started and stopped here.

Shared by ``tests/storage/test_filesystems.py`` and the object-store reliability tests
(``tests/reliability/test_s3_*.py``). TensorFlow reaches it through tensorflow-io's S3
plugin, configured by the environment of the process that uses ``s3://`` (see
:func:`s3_env`); the tests check what the server holds with boto3, directly.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUCKET = "estimator-ext-tests"


def _installed_tensorflow() -> str:
    """The installed TensorFlow's version, read from its metadata (no TensorFlow import)."""
    for distribution in ("tensorflow-cpu", "tensorflow"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


def _s3_availability() -> dict[str, Any]:
    """``S3_UNAVAILABLE``: why s3:// cannot work on this TensorFlow and Python at all
    (estimator_ext/storage/s3.py: no tensorflow-io release serves it there), or None;
    ``S3_MISSING``: why the s3:// tests cannot run here (that, or what they need installed),
    empty when they can; ``S3_SKIP_REASON``: the skip reason that says which."""
    from estimator_ext.storage.s3 import s3_unavailable_reason

    unavailable = s3_unavailable_reason(_installed_tensorflow())
    if unavailable:
        return {
            "S3_UNAVAILABLE": unavailable,
            "S3_MISSING": ["s3:// on this TensorFlow and Python"],
            "S3_SKIP_REASON": f"no s3:// here: {unavailable}",
        }
    missing = [
        name
        for name in ("tensorflow_io", "moto", "boto3")
        if importlib.util.find_spec(name) is None
    ]
    return {
        "S3_UNAVAILABLE": None,
        "S3_MISSING": missing,
        "S3_SKIP_REASON": (
            f"s3:// tests need {', '.join(missing)} (pip install 'moto[server]' and the s3 extra "
            "of this TensorFlow minor, e.g. 'estimator-ext[s3]': docs/versions.md)"
        ),
    }


def __getattr__(name: str) -> Any:
    """S3_UNAVAILABLE, S3_MISSING and S3_SKIP_REASON (see :func:`_s3_availability`), computed
    on first use: asking estimator_ext imports it, which sets its GCS defaults, and the gs://
    children that import this module for its helpers must choose when that happens."""
    if name in ("S3_UNAVAILABLE", "S3_MISSING", "S3_SKIP_REASON"):
        values = _s3_availability()
        globals().update(values)
        return values[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers_within(server: subprocess.Popen, url: str, seconds: float, interval: float) -> bool:
    """Whether ``server`` (a loopback server just started) answers ``url`` within
    ``seconds``, polled every ``interval``; False once the process has exited."""
    deadline = time.monotonic() + seconds
    while server.poll() is None and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return True
        except OSError:
            time.sleep(interval)
    return False


def s3_env(endpoint: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process that reaches the S3 server at ``endpoint``."""
    env = dict(os.environ)
    env.update(
        S3_ENDPOINT=endpoint,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        S3_USE_HTTPS="0",
        S3_VERIFY_SSL="0",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")])),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        # moto refuses multipart parts under 5 MiB like S3 does; the tests upload small
        # parts (S3_MULTI_PART_UPLOAD_CHUNK_SIZE) so that tiny checkpoints use multipart.
        S3_UPLOAD_PART_MIN_SIZE="8192",
    )
    env.update(extra or {})
    return env


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@contextlib.contextmanager
def moto_server(log_path: str, bucket: str = BUCKET) -> Iterator[dict[str, Any]]:
    """Runs a moto S3 server on 127.0.0.1 with ``bucket`` created; stops it on exit.

    Yields ``{"endpoint", "port", "client"}`` (client: a boto3 S3 client, direct).
    """
    for _ in range(3):  # a port taken between free_port() and the bind: try another
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from moto.server import main; main()",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=s3_env(endpoint),
            )
        if answers_within(server, endpoint + "/", seconds=30, interval=0.2):
            break
    else:
        with open(log_path) as log:
            raise RuntimeError(f"moto_server did not start: {log.read()[-2000:]}")
    try:
        client = s3_client(endpoint)
        client.create_bucket(Bucket=bucket)
        yield {"endpoint": endpoint, "port": port, "client": client}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def bucket_keys(client: Any, prefix: str, bucket: str = BUCKET) -> list[str]:
    """The bucket's keys under ``prefix``, sorted, without markers of non-empty directories.

    tensorflow-io 0.32 (the TF 2.12 pairing) writes a ``dir/`` marker object for each
    directory it creates; 0.36 writes none. A marker is dropped only when another key sits
    under it, so an empty directory left behind (e.g. a temporary one) is still listed.
    """
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
    return [
        key
        for key in keys
        if not (key.endswith("/") and any(other.startswith(key) for other in keys if other != key))
    ]
