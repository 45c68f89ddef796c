"""S3 client defaults."""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping

logger = logging.getLogger("estimator_ext")


#: Environment defaults applied before estimator_ext's first s3:// access (see module doc).
S3_ENV_DEFAULTS: dict[str, str] = {
    "S3_CONNECT_TIMEOUT_MSEC": "5000",
    "S3_REQUEST_TIMEOUT_MSEC": "10000",
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "3",
}


def apply_s3_defaults(path: str, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Sets :data:`S3_ENV_DEFAULTS` that are not set yet in ``environ`` (default
    ``os.environ``), when ``path`` is an ``s3://`` path. Returns what it set."""
    if not path.startswith("s3://"):
        return {}
    environ = os.environ if environ is None else environ
    applied = {name: value for name, value in S3_ENV_DEFAULTS.items() if name not in environ}
    environ.update(applied)
    if applied:
        logger.info("estimator_ext: S3 client defaults applied (set them to override): %s", applied)
    return applied


def s3_settings(environ: MutableMapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return ", ".join(f"{name}={environ.get(name, '(unset)')}" for name in S3_ENV_DEFAULTS)
