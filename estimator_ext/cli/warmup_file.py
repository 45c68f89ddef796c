"""Reading a file of warmup requests for ``estimator-ext export --warmup-requests``."""

from __future__ import annotations

import json
from typing import Any

import tensorflow as tf

from estimator_ext.serving.warmup_plan import short_text
from estimator_ext.storage.files import gfile


def read_warmup_file(path: str) -> list[bytes | dict[str, Any]]:
    """The requests in ``path``: a TFRecord of serialized tf.Examples, or JSON lines.

    JSON lines hold one feature dict per line (``{"age": [42.0], "language": ["en"]}``);
    blank lines are skipped. A file whose first non-blank character is ``{`` is read as
    JSON lines, any other as a TFRecord.

    Raises:
      ValueError: the file is missing, empty, or neither format; the message says where.
    """
    if not gfile.exists(path) or gfile.isdir(path):
        raise ValueError(
            f"--warmup {path!r} is not a file; give a TFRecord of tf.Examples or JSON lines."
        )
    content = gfile.read_bytes(path)
    if not content.strip():
        raise ValueError(f"--warmup {path!r} is empty; give at least one request.")
    if content.lstrip()[:1] == b"{":
        return _json_lines(path, content)
    try:
        return list(gfile.read_records(path))
    except tf.errors.OpError as error:
        raise ValueError(
            f"--warmup {path!r} is neither JSON lines (its first character is not '{{') nor a "
            f"readable TFRecord ({short_text(error.message)}). Give a TFRecord of serialized "
            "tf.Examples, or one JSON feature dict per line."
        ) from None


def _json_lines(path: str, content: bytes) -> list[bytes | dict[str, Any]]:
    requests: list[bytes | dict[str, Any]] = []
    for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"--warmup {path!r} line {number} is not valid JSON ({error})."
            ) from None
        if not isinstance(request, dict):
            raise ValueError(
                f"--warmup {path!r} line {number} is a JSON {type(request).__name__}; each "
                'line must be one feature dict, e.g. {"age": [42.0], "language": ["en"]}.'
            )
        requests.append(request)
    return requests
