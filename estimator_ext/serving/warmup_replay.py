"""Writing the warmup file and replaying it against the exported serve graph."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from estimator_ext.serving.signature import (
    SERVE_TAGS,
    SERVING_SIGNATURE_KEY,
    read_serving_signature,
)
from estimator_ext.serving.warmup_encode import prediction_log
from estimator_ext.serving.warmup_plan import WARMUP_ASSET, WarmupPlan, serving_apis, short_text
from estimator_ext.storage import paths
from estimator_ext.storage.files import gfile

logger = logging.getLogger("estimator_ext")


_REQUEST_NAMES = {
    "classify": "ClassificationRequest",
    "regress": "RegressionRequest",
    "predict": "PredictRequest",
}


def add_warmup_requests(
    plan: WarmupPlan | None, export_dir: str, session_config: Any = None
) -> None:
    """Writes ``assets.extra/tf_serving_warmup_requests`` into ``export_dir``, then replays it.

    ``export_dir`` is the export's (still unpublished) directory with its SavedModel
    written. Every record is run through the serve graph's ``serving_default`` signature,
    loaded with ``tf.compat.v1.saved_model.loader.load`` in a fresh graph and session
    (so memory is that of the serving model); nothing happens when ``plan`` is None.

    Raises:
      ValueError: a request does not fit the signature, or the model cannot serve it;
        the message names the request (``warmup_requests[i]``) and what it holds.
    """
    if plan is None:
        return
    apis = serving_apis()
    serving = read_serving_signature(export_dir)
    logs = [
        prediction_log(apis, serving, index, request) for index, request in enumerate(plan.requests)
    ]
    records = [log.SerializeToString() for log in logs]
    directory = paths.join(export_dir, "assets.extra")
    gfile.makedirs(directory)
    path = paths.join(directory, WARMUP_ASSET)
    gfile.write_records(path, records, "writing the warmup requests")
    logger.info(
        "Replaying %d warmup request(s) (%s) against the serve graph",
        len(logs),
        _REQUEST_NAMES[serving.kind],
    )
    replay_warmup_file(path, export_dir, plan.descriptions, session_config)


def replay_warmup_file(
    path: str, export_dir: str, descriptions: Sequence[str], session_config: Any = None
) -> None:
    """Runs every record of the warmup file at ``path`` as TF Serving does at load time.

    The ``serve`` meta graph of ``export_dir`` is loaded with TF's loader into a fresh
    graph and session; each record's request is fed to the ``serving_default`` signature
    and all of its outputs are fetched; classify and regress outputs must have one row
    per example, as TF Serving checks.

    Raises:
      ValueError: a record cannot be run; the message names ``warmup_requests[i]``, the
        input (``descriptions[i]``) and TensorFlow's error.
    """
    apis = serving_apis()
    records = gfile.read_records(path)
    with (
        tf.Graph().as_default() as graph,
        tf.compat.v1.Session(graph=graph, config=session_config) as session,
    ):
        meta_graph = tf.compat.v1.saved_model.loader.load(session, list(SERVE_TAGS), export_dir)
        signature = meta_graph.signature_def[SERVING_SIGNATURE_KEY]
        fetches = {
            key: graph.get_tensor_by_name(info.name) for key, info in signature.outputs.items()
        }
        for index, record in enumerate(records):
            log = apis.PredictionLog.FromString(record)
            feed, rows = _feed(log, signature, graph)
            try:
                outputs = session.run(fetches, feed_dict=feed)
                _check_rows(outputs, rows)
            except (tf.errors.OpError, ValueError, TypeError) as error:
                description = descriptions[index] if index < len(descriptions) else "?"
                raise ValueError(
                    f"warmup_requests[{index}] ({description}) cannot be served: TF Serving "
                    f"replays it through the '{SERVING_SIGNATURE_KEY}' signature of the serve "
                    f"graph at load time, and running it raised {type(error).__name__} "
                    f"({_error_text(error)}). One bad record fails "
                    "the whole model load, so nothing was exported. Fix or drop this "
                    "request (its features must match the serving receiver's names, "
                    "dtypes and shapes)."
                ) from error


def _feed(log: Any, signature: Any, graph: tf.Graph) -> tuple[dict[Any, Any], int | None]:
    """The feed dict of one PredictionLog, and the rows its outputs must have (or None)."""
    which = log.WhichOneof("log_type")
    if which in ("classify_log", "regress_log"):
        request = getattr(log, which).request
        examples = [example.SerializeToString() for example in request.input.example_list.examples]
        tensor = graph.get_tensor_by_name(signature.inputs["inputs"].name)
        return {tensor: examples}, len(examples)
    feed = {}
    for key, proto in log.predict_log.request.inputs.items():
        feed[graph.get_tensor_by_name(signature.inputs[key].name)] = tf.make_ndarray(proto)
    return feed, None


def _error_text(error: BaseException) -> str:
    """TensorFlow's message without its Python stack ('defined at (most recent call last)')."""
    message = getattr(error, "message", None) or str(error)
    kept = [
        line.strip()
        for line in message.splitlines()
        if line.strip()
        and not line.startswith((" ", "\t"))
        and not line.startswith(("Graph execution error", "Detected at node"))
    ]
    return short_text(" ".join(kept) or message, 300)


def _check_rows(outputs: Mapping[str, np.ndarray], rows: int | None) -> None:
    if rows is None:
        return
    for key, value in outputs.items():
        if np.ndim(value) == 0 or np.shape(value)[0] != rows:
            raise ValueError(
                f"output {key!r} has shape {list(np.shape(value))}, but TF Serving needs one "
                f"row per example ({rows})."
            )
