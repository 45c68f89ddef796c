"""Paths on every store: local paths, ``file://`` and URLs (``gs://b/x``, ``s3://``, ``ram://``).

Pure string functions, no TensorFlow and no I/O: the one place that tells a URL from a
local path and joins each the way its store expects.
"""

from __future__ import annotations

import os
import posixpath


def has_scheme(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def join(base: str, *parts: str) -> str:
    """Joins with '/' on URLs (``gs://b/x``) and os.path.join on local paths."""
    return posixpath.join(base, *parts) if has_scheme(base) else os.path.join(base, *parts)


def dirname(path: str) -> str:
    return posixpath.dirname(path) if has_scheme(path) else os.path.dirname(path)


def local_path(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def is_url_root(path: str) -> bool:
    """``s3://bucket`` / ``gs://bucket``: a scheme and an authority, no path."""
    return has_scheme(path) and "/" not in path.split("://", 1)[1].strip("/")
