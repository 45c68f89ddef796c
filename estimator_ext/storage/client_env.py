"""Client settings that a store's client reads from the environment: defaults that never override.

Some stores' clients (tensorflow-io's S3 client, the AWS SDK inside it) read their
settings from the process environment once, when the first path of that store is
touched. estimator_ext bounds them by setting defaults for the variables the user did
not set, before that first touch; the store classes (``object_store.py``) call
:func:`apply_env_defaults` each time a path of theirs is used, so no caller can forget
it (after the first use it finds every variable set and does nothing).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping

logger = logging.getLogger("estimator_ext")


def apply_env_defaults(
    defaults: Mapping[str, str], label: str, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """Sets each of ``defaults`` that is not set yet in ``environ`` (default
    ``os.environ``); never changes a variable that is set. Returns what it set."""
    environ = os.environ if environ is None else environ
    applied = {name: value for name, value in defaults.items() if name not in environ}
    environ.update(applied)
    if applied:
        logger.info(
            "estimator_ext: %s client defaults applied (set them to override): %s", label, applied
        )
    return applied


def env_settings(
    defaults: Mapping[str, str], environ: MutableMapping[str, str] | None = None
) -> str:
    """``NAME=value, ...`` of the variables in ``defaults`` as ``environ`` has them now."""
    environ = os.environ if environ is None else environ
    return ", ".join(f"{name}={environ.get(name, '(unset)')}" for name in defaults)
