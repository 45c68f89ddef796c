"""The names a writer leaves in ``export_dir_base``: hidden temporaries and publish claims.

Temporaries of killed processes are named ``.estimator_ext-tmp-<start>-<host>-<pid>-<hex>``:
hidden, never integer-like (TF Serving and ``tf.estimator`` exporters only look at
integer names), and removed by :func:`estimator_ext.clean_stale_temporaries`. Claim files
(``.estimator_ext-claim-<version>-...``) mark a copy-publish in progress. This module
makes and parses those names: pure string work, no I/O, so that the stores' publish step
(``copy_publish.py``) can use it below the layer's dispatch. Finding the names on a store
is ``listing.py``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import time
import uuid

TEMP_PREFIX = ".estimator_ext-tmp-"


SAVED_MODEL_FILENAMES = ("saved_model.pb", "saved_model.pbtxt")


#: Prefix of the claim files copy-publishing exports hold on an integer name (see publish).
CLAIM_PREFIX = ".estimator_ext-claim-"


_WRITER_FIELDS = r"(?P<started>\d+)-(?P<host>[^-/]+)-(?P<pid>\d+)-(?P<token>[0-9a-f]+)$"


_TEMP_NAME = re.compile("^" + re.escape(TEMP_PREFIX) + _WRITER_FIELDS)


_CLAIM_NAME = re.compile("^" + re.escape(CLAIM_PREFIX) + r"(?P<candidate>\d+)-" + _WRITER_FIELDS)


def host_label() -> str:
    return socket.gethostname().replace("-", "_").replace("/", "_") or "host"


def writer_fields() -> str:
    return f"{int(time.time())}-{host_label()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def temp_dir_name() -> str:
    """A name no other export (thread, process or host) will pick, never integer-like.

    It carries the start time, host and pid so stale temporaries can be told from live
    ones (see :func:`estimator_ext.clean_stale_temporaries`).
    """
    return TEMP_PREFIX + writer_fields()


@dataclasses.dataclass(frozen=True)
class TempDirName:
    """What a temporary directory's name says about the export writing it."""

    started: int
    host: str
    pid: int


def parse_temp_dir_name(name: str) -> TempDirName | None:
    """The start time, host and pid in a name made by :func:`temp_dir_name`, else None."""
    return _parse(_TEMP_NAME, name)


def parse_claim_name(name: str) -> TempDirName | None:
    """The start time, host and pid in the name of a publish claim file, else None."""
    return _parse(_CLAIM_NAME, name)


def claim_candidate(name: str) -> int | None:
    """The integer name a publish claim file is for, else None."""
    match = _CLAIM_NAME.match(name.rstrip("/"))
    return int(match.group("candidate")) if match else None


def _parse(pattern: re.Pattern[str], name: str) -> TempDirName | None:
    match = pattern.match(name.rstrip("/"))
    if match is None:
        return None
    return TempDirName(int(match.group("started")), match.group("host"), int(match.group("pid")))
