"""A fresh process that imports estimator_ext and TensorFlow in a given order, then makes
its first ``gs://`` call through estimator_ext; reports which ``GCS_*`` values TensorFlow
read and whether they are in force.

Run as ``python first_gs_call_child.py ORDER BASE`` (ORDER: ``estimator-ext-first`` or
``tensorflow-first``) behind the loopback GCS stack (``gcs_server.gcs_env``). TensorFlow
reads its GCS settings when it is imported (``estimator_ext/storage/gcs.py``), so the
child records ``os.environ``'s values of :data:`GCS_ENV_DEFAULTS` at that moment. Then
it proves what is in force, with TensorFlow's own client and nothing faked: it writes
``BASE/d/x``, removes ``BASE/d`` and asks ``tf.io.gfile.exists(BASE/d)`` at once -- True
only while TensorFlow's stat cache (``GCS_STAT_CACHE_MAX_AGE``) is on. Prints one JSON
line ``{"environ", "stale_exists", "warnings", "cleaned"}``; the variables to record
come in ``RECORD_VARIABLES`` (comma-separated).
"""

from __future__ import annotations

import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.support.gcs_server import loopback_problem

PROBLEM = loopback_problem(dict(os.environ))
if PROBLEM:
    sys.exit(f"refusing gs:// outside the loopback test stack: {PROBLEM}")

# not imported from estimator_ext: importing any of it applies the defaults
VARIABLES = os.environ["RECORD_VARIABLES"].split(",")

ORDER, BASE = sys.argv[1], sys.argv[2]
if ORDER == "estimator-ext-first":
    import estimator_ext

    ENVIRON = {name: os.environ.get(name) for name in VARIABLES}
    import tensorflow as tf
else:
    ENVIRON = {name: os.environ.get(name) for name in VARIABLES}
    import tensorflow as tf

    import estimator_ext


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


warnings = _Warnings()
logging.getLogger("estimator_ext").addHandler(warnings)
cleaned = estimator_ext.clean_stale_temporaries(BASE, older_than=0)  # the first gs:// call
with tf.io.gfile.GFile(BASE + "/d/x", "w") as handle:
    handle.write("x")
assert tf.io.gfile.exists(BASE + "/d")
tf.io.gfile.rmtree(BASE + "/d")
stale = bool(tf.io.gfile.exists(BASE + "/d"))
print(
    json.dumps(
        {
            "environ": ENVIRON,
            "stale_exists": stale,
            "warnings": warnings.messages,
            "cleaned": cleaned,
        }
    ),
    flush=True,
)
