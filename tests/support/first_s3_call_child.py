"""A fresh process whose first ``s3://`` access is one estimator_ext call; reports the
S3 client's environment as it was at that first call.

Run as ``python first_s3_call_child.py SCENARIO BASE [MODEL_DIR]`` with the names of the
variables to record in ``RECORD_VARIABLES`` (comma-separated). Before estimator_ext is
imported, every ``tf.io.gfile`` function is replaced by a recording pass-through: the
first call given an ``s3://`` path records ``os.environ``'s values of those variables,
then every call goes on to the real function. Scenarios:

* ``clean-str`` / ``clean-bytes``: ``estimator_ext.clean_stale_temporaries(BASE)``, with
  BASE as ``str`` / ``bytes``;
* ``export-bytes``: ``estimator_ext.export_all_saved_models`` of the tiny model trained
  in MODEL_DIR, with ``export_dir_base`` as ``bytes``.

Prints one JSON line, ``{"first": {"call", "environ"}, "result"}``, and leaves with
``os._exit`` (tensorflow-io's S3 plugin aborts at interpreter exit once used).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import tensorflow as tf
import tensorflow_io  # noqa: F401  (registers s3://)

VARIABLES = os.environ["RECORD_VARIABLES"].split(",")
FIRST: dict[str, Any] = {}


def _recording(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(real)
    def call(*args: Any, **kwargs: Any) -> Any:
        paths = [
            os.fsdecode(value)
            for value in list(args) + list(kwargs.values())
            if isinstance(value, (str, bytes, os.PathLike))
        ]
        s3_paths = [path for path in paths if path.startswith("s3://")]
        if s3_paths and not FIRST:
            FIRST.update(
                call=f"tf.io.gfile.{name}({s3_paths[0]!r})",
                environ={variable: os.environ.get(variable) for variable in VARIABLES},
            )
        return real(*args, **kwargs)

    return call


for _name in dir(tf.io.gfile):
    if not _name.startswith("_") and callable(getattr(tf.io.gfile, _name)):
        setattr(tf.io.gfile, _name, _recording(_name, getattr(tf.io.gfile, _name)))

import estimator_ext  # noqa: E402  (after the wrapping: nothing can hold the real functions)


def main() -> None:
    scenario, base = sys.argv[1], sys.argv[2]
    if scenario == "clean-str":
        result: Any = estimator_ext.clean_stale_temporaries(base, older_than=0)
    elif scenario == "clean-bytes":
        result = estimator_ext.clean_stale_temporaries(base.encode(), older_than=0)
    elif scenario == "export-bytes":
        from tests.support import data

        estimator = data.make_adam_estimator(sys.argv[3])
        receiver_map = data.adam_receiver_map()
        result = str(estimator_ext.export_all_saved_models(estimator, base.encode(), receiver_map))
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    print(json.dumps({"first": FIRST, "result": result}), flush=True)


if __name__ == "__main__":
    status = 0
    try:
        main()
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
