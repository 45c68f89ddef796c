"""S3's client defaults: bounded timeouts and retries for tensorflow-io's S3 client.

Why: tensorflow-io 0.36's S3 filesystem (the AWS SDK for C++ 1.8 inside) defaults to
300 s connect and 300 s request timeouts, the request timeout being curl's low-speed
limit (no byte for that long), and to the SDK's legacy retry strategy (11 attempts per
request) times tensorflow-io's own 3 extra upload retries. One stalled connection could
block an export for many minutes. The SDK reads its settings from the environment once
per process, when the first ``s3://`` path is touched, so the only way to bound them is
to set environment defaults before that. The storage layer does it
(:class:`~estimator_ext.storage.object_store.S3Store`, whose ``client_defaults`` are
:data:`S3_ENV_DEFAULTS`), for the variables the user did not set (it never overrides one),
whenever an ``estimator_ext`` call is about to touch an ``s3://`` path, so the defaults
are in place before the first one:

================================  =========  ===========================================
variable                          default    meaning
================================  =========  ===========================================
``S3_CONNECT_TIMEOUT_MSEC``       ``5000``   TCP connect timeout per attempt
``S3_REQUEST_TIMEOUT_MSEC``       ``10000``  abort an attempt after this long without a byte
``AWS_RETRY_MODE``                standard   the SDK's standard retry strategy ...
``AWS_MAX_ATTEMPTS``              ``3``      ... with 3 attempts per request
================================  =========  ===========================================

With these, one request through dead or stalled connections fails within about
3 x (5 + 10) s plus backoff, and one file upload (tensorflow-io retries it 3 more times)
within about 2 minutes; a healthy slow transfer is never cut (bytes keep flowing). To
change them, set the variables yourself before the process first uses ``s3://`` (e.g.
``S3_REQUEST_TIMEOUT_MSEC=60000`` for a store that is slow to answer big copies).
``AWS_RETRY_MODE`` / ``AWS_MAX_ATTEMPTS`` also configure other AWS SDKs in the process
(boto3 reads them too). If ``s3://`` was used before ``estimator_ext`` touched it, the
S3 client is already configured and these defaults have no effect on it.

Some waits inside the S3 client no setting bounds; the watchdog (``watchdog.py``) bounds
those.

Which TensorFlow has ``s3://`` at all: TensorFlow itself dropped its S3 filesystem in 2.6,
and tensorflow-io brings it back by loading plugins built against one TensorFlow. Its last
release, 0.37.1, is built for TensorFlow 2.16 and has wheels for Python 3.7-3.12 only.
Measured against moto_server (``tf.io.gfile.exists``, write, read and list on ``s3://``
after ``import tensorflow_io``): it works on TensorFlow 2.16 and 2.17; on 2.18 and later its
plugins no longer load (``undefined symbol`` in ``libtensorflow_io_plugins.so``) and TensorFlow
answers ``File system scheme 's3' not implemented``. :func:`s3_unavailable_reason` says so
before the first call, so that an export to ``s3://`` there fails at once with the fix
instead of TensorFlow's bare ``UnimplementedError``.
"""

from __future__ import annotations

import sys
from typing import Any

#: Environment defaults applied before estimator_ext's first s3:// access (see module doc).
S3_ENV_DEFAULTS: dict[str, str] = {
    "S3_CONNECT_TIMEOUT_MSEC": "5000",
    "S3_REQUEST_TIMEOUT_MSEC": "10000",
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "3",
}

#: The last TensorFlow minor on which a tensorflow-io release serves ``s3://`` (module doc).
S3_LAST_TENSORFLOW = (2, 17)
#: tensorflow-io's last release and the Pythons it has wheels for (3.7-3.12).
S3_TENSORFLOW_IO = "0.37.1"
S3_LAST_PYTHON = (3, 12)


def s3_unavailable_reason(
    tensorflow_version: str, version_info: tuple[Any, ...] = sys.version_info
) -> str | None:
    """Why ``s3://`` cannot work with TensorFlow ``tensorflow_version`` on this Python, with
    what to do instead; None where a tensorflow-io release serves it (whether it is installed
    is another matter: TensorFlow's own error says so).

    Pure: no TensorFlow import, so the tests and the store ask it alike.
    """
    try:
        tensorflow_minor = tuple(int(part) for part in tensorflow_version.split(".")[:2])
    except ValueError:  # pragma: no cover - exotic local builds: let TensorFlow answer
        return None
    python_minor = tuple(version_info[:2])
    last_tensorflow = ".".join(map(str, S3_LAST_TENSORFLOW))
    last_python = ".".join(map(str, S3_LAST_PYTHON))
    fix = (
        "Export to gs://, a local path or ram:// (and copy the export to S3 with your own "
        f"tools), or run this job on TensorFlow {last_tensorflow} with Python {last_python} or "
        f"older: pip install 'estimator-ext[cpu-tf{last_tensorflow.replace('.', '')}]' "
        f"'tensorflow-io=={S3_TENSORFLOW_IO}' (docs/filesystems.md lists each minor's stores)."
    )
    if tensorflow_minor > S3_LAST_TENSORFLOW:
        return (
            f"s3:// paths need tensorflow-io, and no tensorflow-io release works with "
            f"TensorFlow {tensorflow_version}: the last one, {S3_TENSORFLOW_IO}, loads its S3 "
            f"filesystem on TensorFlow up to {last_tensorflow}. {fix}"
        )
    if python_minor > S3_LAST_PYTHON:
        return (
            f"s3:// paths need tensorflow-io, and no tensorflow-io release installs on Python "
            f"{python_minor[0]}.{python_minor[1]}: the last one, {S3_TENSORFLOW_IO}, has wheels "
            f"for Python up to {last_python}. {fix}"
        )
    return None
