"""Reads exports with TensorFlow alone and writes every number they give: the forward test's
one reader, run unchanged under TF 2.15 (where the exports were made) and the newest TF.

    python -I tests/forward/read_export.py REQUEST.json RESPONSE.json

It imports nothing but TensorFlow and NumPy (no estimator_ext, no tensorflow_estimator: the
newest side has neither, and the response says which of them got imported), so the same
export is read the same way on both sides and the two responses can be compared key by key.

REQUEST.json: ``{"exports": [export request, ...]}``, one process for all of them (a TensorFlow
import is most of a read). An export request is ``{"export_dir": ..., "serve": {input key:
value}, "eval_batches": [{input key: value}, ...], "train": {input key: value}}``, every value
encoded by :func:`encode`. Each signature is fed the entries of its tag set's feed that it has
as inputs.

RESPONSE.json: ``{"tensorflow": version, "imported": [...], "exports": [{name: value}, ...]}``,
one map of outputs per export request, in order, where the names are

- ``tf2/<tag>/<signature>/<output>``: ``tf.saved_model.load(export_dir, tags=[tag])``, every
  signature of the serve, eval and train meta graphs called once (the eval signature's metric
  ``value`` outputs are left out: one call runs them beside their ``update_op``, unordered);
- ``v1/serve/<signature>/<output>``: the compat.v1 loader in a Session, every serve signature;
- ``v1/eval/update/<batch>/<metric>``, then ``v1/eval/value/<metric>``: the eval graph's
  ``update_op`` outputs run batch after batch, then the metric values read;
- ``v1/train/loss_before``, ``v1/train/loss_after``, ``v1/train/global_step`` and
  ``v1/train/variable/<name>``: one run of the train op on the train batch, the loss before and
  after it and every global variable after it.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import numpy as np
import tensorflow as tf

#: Tags of the meta graphs an estimator_ext export holds, one per mode.
TAGS = ("serve", "eval", "train")


def encode(value: Any) -> dict[str, Any]:
    """A NumPy-convertible value as JSON: exact for floats (float32 widens to a double losslessly)
    and bytes (base64), so both sides' numbers are compared, not their printing."""
    array = np.asarray(value)
    if array.dtype.kind in "OSU":
        flat = [item if isinstance(item, bytes) else str(item).encode() for item in array.ravel()]
        return {
            "dtype": "string",
            "shape": list(array.shape),
            "b64": [base64.b64encode(item).decode("ascii") for item in flat],
        }
    return {"dtype": array.dtype.name, "shape": list(array.shape), "values": array.ravel().tolist()}


def decode(encoded: dict[str, Any]) -> np.ndarray:
    """The inverse of :func:`encode`; strings come back as an object array of bytes."""
    if encoded["dtype"] == "string":
        items = [base64.b64decode(item) for item in encoded["b64"]]
        return np.array(items, dtype=object).reshape(encoded["shape"])
    return np.array(encoded["values"], dtype=encoded["dtype"]).reshape(encoded["shape"])


def _feed_for(signature_inputs: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = sorted(set(signature_inputs) - set(feed))
    if missing:
        raise KeyError(f"the request has no value for the signature inputs {missing}")
    return {key: feed[key] for key in signature_inputs}


def read_with_tf2_loader(export_dir: str, feeds: dict[str, dict[str, np.ndarray]]) -> dict:
    """Every signature of every meta graph through ``tf.saved_model.load(tags=...)``."""
    outputs = {}
    for tag in TAGS:
        loaded = tf.saved_model.load(export_dir, tags=[tag])
        for key in sorted(loaded.signatures):
            function = loaded.signatures[key]
            _, keyword_specs = function.structured_input_signature
            inputs = _feed_for(keyword_specs, feeds[tag])
            results = function(
                **{
                    name: tf.constant(value, dtype=keyword_specs[name].dtype)
                    for name, value in inputs.items()
                }
            )
            for name, tensor in results.items():
                if tag == "eval" and name.startswith("metrics/") and name.endswith("/value"):
                    continue
                outputs[f"tf2/{tag}/{key}/{name}"] = tensor.numpy()
    return outputs


def _session_feed(graph: tf.Graph, signature: Any, feed: dict[str, np.ndarray]) -> dict:
    return {
        graph.get_tensor_by_name(signature.inputs[key].name): value
        for key, value in _feed_for(signature.inputs, feed).items()
    }


def read_serve_with_v1_loader(export_dir: str, feed: dict[str, np.ndarray]) -> dict:
    outputs = {}
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        for key in sorted(meta_graph.signature_def):
            signature = meta_graph.signature_def[key]
            fetches = {
                name: graph.get_tensor_by_name(info.name)
                for name, info in signature.outputs.items()
            }
            for name, value in session.run(fetches, _session_feed(graph, signature, feed)).items():
                outputs[f"v1/serve/{key}/{name}"] = value
    return outputs


def read_eval_with_v1_loader(export_dir: str, batches: list[dict[str, np.ndarray]]) -> dict:
    """The eval graph's metrics as Estimator.evaluate computes them: updates, then values."""
    outputs = {}
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["eval"], export_dir)
        signature = meta_graph.signature_def["eval"]
        updates, values = {}, {}
        for name, info in signature.outputs.items():
            if name.startswith("metrics/") and name.endswith("/update_op"):
                updates[name[len("metrics/") : -len("/update_op")]] = info.name
            elif name.startswith("metrics/") and name.endswith("/value"):
                values[name[len("metrics/") : -len("/value")]] = info.name
        if not values:
            raise ValueError(f"the eval signature has no metrics: {sorted(signature.outputs)}")
        for index, batch in enumerate(batches):
            fetched = session.run(updates, _session_feed(graph, signature, batch))
            for metric, value in fetched.items():
                outputs[f"v1/eval/update/{index}/{metric}"] = value
        for metric, value in session.run(values).items():
            outputs[f"v1/eval/value/{metric}"] = value
    return outputs


def run_train_op_once(export_dir: str, feed: dict[str, np.ndarray]) -> dict:
    outputs = {}
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["train"], export_dir)
        signature = meta_graph.signature_def["train"]
        (train_op,) = graph.get_collection("saved_model_train_op")
        loss = graph.get_tensor_by_name(signature.outputs["loss"].name)
        session_feed = _session_feed(graph, signature, feed)
        outputs["v1/train/loss_before"] = session.run(loss, session_feed)
        session.run(train_op, session_feed)
        outputs["v1/train/loss_after"] = session.run(loss, session_feed)
        outputs["v1/train/global_step"] = session.run(tf.compat.v1.train.get_global_step(graph))
        for variable in tf.compat.v1.global_variables():
            outputs[f"v1/train/variable/{variable.op.name}"] = session.run(variable)
    return outputs


def read_export(request: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every number one export gives (the module doc lists them)."""
    export_dir = request["export_dir"]
    batches = [
        {key: decode(value) for key, value in batch.items()} for batch in request["eval_batches"]
    ]
    feeds = {
        "serve": {key: decode(value) for key, value in request["serve"].items()},
        "eval": batches[0],
        "train": {key: decode(value) for key, value in request["train"].items()},
    }
    outputs = read_with_tf2_loader(export_dir, feeds)
    outputs.update(read_serve_with_v1_loader(export_dir, feeds["serve"]))
    outputs.update(read_eval_with_v1_loader(export_dir, batches))
    outputs.update(run_train_op_once(export_dir, feeds["train"]))
    return outputs


def main(request_path: str, response_path: str) -> None:
    with open(request_path, encoding="utf-8") as file:
        request = json.load(file)
    exports = [read_export(export_request) for export_request in request["exports"]]
    response = {
        "tensorflow": tf.__version__,
        "imported": sorted(
            name for name in ("estimator_ext", "tensorflow_estimator") if name in sys.modules
        ),
        "exports": [
            {name: encode(value) for name, value in sorted(outputs.items())} for outputs in exports
        ],
    }
    with open(response_path, "w", encoding="utf-8") as file:
        json.dump(response, file)


if __name__ == "__main__":
    main(*sys.argv[1:])
