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
"""

from __future__ import annotations

#: Environment defaults applied before estimator_ext's first s3:// access (see module doc).
S3_ENV_DEFAULTS: dict[str, str] = {
    "S3_CONNECT_TIMEOUT_MSEC": "5000",
    "S3_REQUEST_TIMEOUT_MSEC": "10000",
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "3",
}
