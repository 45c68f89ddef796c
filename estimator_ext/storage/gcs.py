"""GCS's client defaults (``gs://``): TensorFlow's own GCS filesystem, bounded and uncached.

TensorFlow 2.15 serves ``gs://`` with its own GCS filesystem
(``tsl/platform/cloud/gcs_file_system.cc``, ``RetryingGcsFileSystem``). Unlike the S3
client (``s3.py``), it reads its ``GCS_*`` settings once, when ``import tensorflow``
registers it, not at the first ``gs://`` call. Measured against the emulator: a variable
set after ``import tensorflow`` and before the first ``gs://`` call has no effect. So
:func:`apply_gcs_defaults` must run before TensorFlow is imported: ``import
estimator_ext`` calls it when TensorFlow is not imported yet (the package itself does
not import TensorFlow). When TensorFlow came first, the first ``gs://`` call of the
storage layer (:class:`~estimator_ext.storage.object_store.GcsStore`) logs a warning
naming the variables TensorFlow read without them; the watchdog (``watchdog.py``) still
bounds every call. A value the user set is never overridden.

=======================================  ===========  ===========  ======================
variable                                 default      TensorFlow   what it bounds
=======================================  ===========  ===========  ======================
``GCS_REQUEST_CONNECTION_TIMEOUT_SECS``  ``5``        ``120``      connecting (also the
                                                                   proxy's CONNECT)
``GCS_REQUEST_IDLE_TIMEOUT_SECS``        ``10``       ``60``       an attempt without a
                                                                   byte of progress
``GCS_METADATA_REQUEST_TIMEOUT_SECS``    ``30``       ``3600``     a whole metadata
                                                                   request (stat, list)
``GCS_RETRY_CONFIG_MAX_RETRIES``         ``2``        ``10``       retries per request
``GCS_RETRY_CONFIG_INIT_DELAY_TIME_US``  ``500000``   ``1000000``  first backoff
``GCS_RETRY_CONFIG_MAX_DELAY_TIME_US``   ``2000000``  ``32000000`` longest backoff
``GCS_STAT_CACHE_MAX_AGE``               ``0``        ``5``        seconds a stat is
                                                                   cached
=======================================  ===========  ===========  ======================

Measured (TF 2.15.1, one ``tf.io.gfile.exists`` through a proxy that stalls every
connection for good): TensorFlow's own settings still held the call after 200 s (4 of
its 11 attempts of 60 s idle, backoffs up to 32 s: about 14 minutes); with these
defaults it fails after 3 attempts in 36 s (idle 10 s; 20 s with idle 5 s). A proxy
that never answers CONNECT: 17.5 s (connection 5 s). A response trickling a byte every
half second: 32 s with the metadata timeout at 10 s (each attempt capped; 30 s by
default, so 3 attempts stay under the watchdog's 120 s). A healthy slow transfer is not
cut: the read and write request timeouts (``GCS_READ_REQUEST_TIMEOUT_SECS``,
``GCS_WRITE_REQUEST_TIMEOUT_SECS``, 3600 s) are left to TensorFlow, and the idle
timeout only trips when no byte moves. The stat cache is off because, at TensorFlow's
5 s, a folder removed moments ago still "exists" (``GcsStore`` also asks by listing).
The other ``GCS_*`` variables TensorFlow reads (read cache, matching-paths cache,
throttle, allowed bucket locations, append mode, additional header, DNS refresh) are
left to it: their defaults cache nothing and throttle nothing.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from estimator_ext.storage.client_env import apply_env_defaults, env_settings

#: Environment defaults set before TensorFlow reads them (see the module doc).
GCS_ENV_DEFAULTS: dict[str, str] = {
    "GCS_REQUEST_CONNECTION_TIMEOUT_SECS": "5",
    "GCS_REQUEST_IDLE_TIMEOUT_SECS": "10",
    "GCS_METADATA_REQUEST_TIMEOUT_SECS": "30",
    "GCS_RETRY_CONFIG_MAX_RETRIES": "2",
    "GCS_RETRY_CONFIG_INIT_DELAY_TIME_US": "500000",
    "GCS_RETRY_CONFIG_MAX_DELAY_TIME_US": "2000000",
    "GCS_STAT_CACHE_MAX_AGE": "0",
}


def apply_gcs_defaults(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Sets the :data:`GCS_ENV_DEFAULTS` not set yet in ``environ`` (default
    ``os.environ``); never overrides one. Returns what it set. They take effect only if
    TensorFlow is imported afterwards (module doc)."""
    return apply_env_defaults(GCS_ENV_DEFAULTS, "GCS", environ)


def unset_gcs_defaults(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """The :data:`GCS_ENV_DEFAULTS` variables ``environ`` (default ``os.environ``) lacks."""
    environ = os.environ if environ is None else environ
    return [name for name in GCS_ENV_DEFAULTS if name not in environ]


def gcs_settings(environ: MutableMapping[str, str] | None = None) -> str:
    """The GCS client's settings as the environment has them now, for error messages."""
    return env_settings(GCS_ENV_DEFAULTS, environ)
