"""A child process that exports to an object store on request, for the object-store tests.

tensorflow-io's S3 plugin aborts at interpreter exit once used ("pure virtual method
called", see tests/storage/test_filesystems.py), so no pytest process touches ``s3://``: this
script does, and ends with ``os._exit``. Started with ``--store gs``, it first refuses to
run unless its environment sends ``gs://`` to the loopback test stack only
(``gcs_server.loopback_problem``), and imports estimator_ext before TensorFlow, so
that TensorFlow's GCS client reads estimator_ext's ``GCS_*`` defaults; it answers no
request for a ``gs://`` base without ``--store gs``. It reads one JSON request per line on stdin
and answers one JSON line on a private copy of stdout:

* ``{"op": "export", "base": ..., "modes": [...]}`` -> ``{"ok", "export_dir", "error",
  "error_type", "seconds"}`` (an export of the reliability suite's tiny model);
* ``{"op": "fork_export", "base": ...}`` -> ``{"pid"}``: the same export in a forked
  process, which the kill test SIGKILLs at a random moment;
* ``{"op": "clean", "bases": [...], "older_than": s}`` -> ``{"removed": [...]}``
  (``estimator_ext.clean_stale_temporaries`` on each base);
* ``{"op": "quit"}``.

Run as ``python store_child.py <model_dir> --store s3|gs``.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import time
import traceback
from typing import Any

_ANSWERS = os.fdopen(os.dup(1), "w", buffering=1)
faulthandler.register(signal.SIGUSR1)  # the test dumps the stacks of a child that hangs
os.dup2(2, 1)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
STORE = sys.argv[sys.argv.index("--store") + 1]
if STORE == "gs":
    from tests.support.gcs_server import loopback_problem

    PROBLEM = loopback_problem(dict(os.environ))
    if PROBLEM:
        sys.exit(f"refusing gs:// outside the loopback test stack: {PROBLEM}")

# estimator_ext first: TensorFlow reads the GCS_* defaults when it is imported
import estimator_ext  # noqa: E402, I001
import tensorflow as tf  # noqa: E402

if STORE == "s3":
    import tensorflow_io  # noqa: F401  (registers s3://)

from tests.support import data as _model  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)


def export(
    estimator: tf.estimator.Estimator, base: str, modes: Any = _model.ALL_MODES
) -> dict[str, Any]:
    started = time.monotonic()
    try:
        export_dir = estimator_ext.export_all_saved_models(
            estimator, base, _model.adam_receiver_map(tuple(modes))
        )
        return {"ok": True, "export_dir": str(export_dir), "seconds": time.monotonic() - started}
    except Exception as error:  # every failure is reported to the test, which checks it
        return {
            "ok": False,
            "error_type": type(error).__name__,
            "error": str(error)[:3000],
            "seconds": time.monotonic() - started,
        }


def fork_export(estimator: tf.estimator.Estimator, base: str) -> int:
    """Starts one export in a forked process (killed by the test at a random moment);
    returns its pid. This process never touches the store itself, so each fork sets up its
    own client, and it ignores SIGCHLD, so finished or killed forks leave no zombie."""
    pid = os.fork()
    if pid == 0:
        status = 0
        started = time.monotonic()
        try:
            export(estimator, base)
        except BaseException:
            status = 1
            traceback.print_exc()
        print(
            f"fork {os.getpid()}: status {status} after {time.monotonic() - started:.2f} s",
            file=sys.stderr,
            flush=True,
        )
        os._exit(status)
    return pid


def _check_base(base: str) -> None:
    if base.startswith("gs://") and STORE != "gs":
        raise SystemExit(f"refusing {base!r}: this child was not started with --store gs")


def main() -> None:
    model_dir = sys.argv[1]
    estimator = _model.make_adam_estimator(model_dir)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    _ANSWERS.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "quit":
            break
        for base in [request.get("base", "")] + request.get("bases", []):
            _check_base(base)
        if request["op"] == "export":
            answer = export(estimator, request["base"], request.get("modes", _model.ALL_MODES))
        elif request["op"] == "fork_export":
            answer = {"pid": fork_export(estimator, request["base"])}
        elif request["op"] == "clean":
            removed = []
            for base in request["bases"]:
                removed += estimator_ext.clean_stale_temporaries(
                    base, older_than=request["older_than"]
                )
            answer = {"removed": removed}
        else:
            answer = {"error": f"unknown op {request['op']!r}"}
        _ANSWERS.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    try:
        main()
        status = 0
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stderr.flush()
    _ANSWERS.flush()
    os._exit(status)  # skip the S3 plugin's crashing teardown
