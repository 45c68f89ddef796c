"""TF Serving warmup requests: checked, fitted to the serving signature, written, replayed.

TensorFlow Serving replays ``assets.extra/tf_serving_warmup_requests`` (a TFRecord of
``tensorflow.serving.PredictionLog``, at most 1000 records) when it loads a model, and one
record it cannot run fails the whole load. Users write that file by hand and get it
wrong, so here the export writes it from plain inputs and proves it before publishing:

1. :func:`plan_warmup_requests` checks the argument before anything is written (types,
   count, a serve graph to warm up, no ``assets_extra`` file of the same name, the
   tensorflow-serving-api protos importable);
2. :func:`add_warmup_requests` reads the exported serve graph's ``serving_default``
   signature, turns each request into the ``PredictionLog`` that signature takes
   (Classification / Regression of serialized tf.Examples, else Predict), writes the
   file and replays every record against the exported serve graph, loaded with TF's own
   loader, as TF Serving does at load time.

The protos come from ``tensorflow-serving-api`` 2.15.1, imported lazily: that package
requires the full ``tensorflow`` package by name, so it is installed with ``--no-deps``
beside ``tensorflow-cpu`` (its generated protos need only what tensorflow-cpu provides).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import numbers
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np
import tensorflow as tf
from google.protobuf import message as protobuf_message

from estimator_ext import _fs
from estimator_ext._s3 import call_store
from estimator_ext._serving_signature import (
    SERVE_TAGS,
    SERVING_SIGNATURE_KEY,
    ServingSignature,
    read_serving_signature,
)

logger = logging.getLogger("estimator_ext")
_REQUEST_NAMES = {
    "classify": "ClassificationRequest",
    "regress": "RegressionRequest",
    "predict": "PredictRequest",
}

#: TF Serving reads at most this many warmup records (``kMaxNumRecordsToRead``).
MAX_WARMUP_REQUESTS = 1000
#: The file TF Serving replays, relative to the export directory.
WARMUP_ASSET = "tf_serving_warmup_requests"
INSTALL_COMMAND = "pip install --no-deps tensorflow-serving-api==2.15.1"
_MAX_DESCRIPTION = 160

#: One request as normalized by the plan: a tf.Example, or feature name -> values.
WarmupRequest = Union[tf.train.Example, dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class WarmupPlan:
    """The checked requests, in order, and a short description of each for errors."""

    requests: list[WarmupRequest]
    descriptions: list[str]


def serving_apis() -> types.SimpleNamespace:
    """tensorflow-serving-api's protos, imported on first use.

    Raises:
      ImportError: the package is missing; the message gives the install command.
    """
    try:
        from tensorflow_serving.apis import (
            classification_pb2,
            predict_pb2,
            prediction_log_pb2,
            regression_pb2,
        )
    except ImportError as error:
        raise ImportError(
            "warmup_requests needs the TF Serving protos of tensorflow-serving-api 2.15.1, "
            f"which are not installed ({error}). Install them with `{INSTALL_COMMAND}` "
            "(--no-deps because the package requires the full `tensorflow` package by name, "
            "which would install a second TensorFlow beside tensorflow-cpu; its protos need "
            "only what tensorflow-cpu provides)."
        ) from error
    return types.SimpleNamespace(
        ClassificationRequest=classification_pb2.ClassificationRequest,
        RegressionRequest=regression_pb2.RegressionRequest,
        PredictRequest=predict_pb2.PredictRequest,
        PredictionLog=prediction_log_pb2.PredictionLog,
    )


# --- 1. the plan: checks before anything is written ---------------------------------------


def plan_warmup_requests(
    warmup_requests: Sequence[Any] | None,
    modes: Iterable[str],
    assets_extra_destinations: Iterable[str] = (),
) -> WarmupPlan | None:
    """Checks ``warmup_requests`` before anything is written; None when it is None.

    Each request is a ``tf.train.Example``, a serialized one (``bytes``), or a feature
    dict (feature name -> list or array of values, or one value). At most
    :data:`MAX_WARMUP_REQUESTS`. ``modes`` must include ``ModeKeys.PREDICT`` (the serve
    graph TF Serving warms up), and no ``assets_extra`` destination may be the warmup file.

    Raises:
      ImportError: tensorflow-serving-api is not installed.
      TypeError / ValueError: the argument is malformed; the message names the request.
    """
    if warmup_requests is None:
        return None
    requests = _as_request_list(warmup_requests)
    if tf.estimator.ModeKeys.PREDICT not in tuple(modes):
        raise ValueError(
            "warmup_requests warm up the serve graph, but input_receiver_fn_map has no "
            "ModeKeys.PREDICT entry, so there is no serve graph. Add a serving receiver "
            "for ModeKeys.PREDICT, or pass warmup_requests=None."
        )
    for destination in assets_extra_destinations:
        if destination == WARMUP_ASSET or destination.startswith(WARMUP_ASSET + "/"):
            raise ValueError(
                f"assets_extra destination {destination!r} and warmup_requests both write "
                f"assets.extra/{WARMUP_ASSET}. Pass the requests as warmup_requests only "
                "(the export writes and checks the file), or drop warmup_requests."
            )
    serving_apis()
    normalized = [_normalized_request(index, request) for index, request in enumerate(requests)]
    return WarmupPlan(normalized, [_describe(request) for request in normalized])


def _as_request_list(warmup_requests: Any) -> list[Any]:
    single = isinstance(warmup_requests, (tf.train.Example, bytes, str, Mapping))
    if single or not isinstance(warmup_requests, Iterable):
        raise TypeError(
            "warmup_requests must be a sequence (e.g. a list) of requests, each a "
            "tf.train.Example, a serialized tf.Example (bytes) or a feature dict; received "
            f"{_short(warmup_requests)} ({type(warmup_requests).__name__}). Wrap a single "
            "request in a list: warmup_requests=[request]."
        )
    requests = list(warmup_requests)
    if not requests:
        raise ValueError(
            "warmup_requests is empty; TF Serving would have nothing to warm up with. Give "
            "at least one request, or pass warmup_requests=None for no warmup file."
        )
    if len(requests) > MAX_WARMUP_REQUESTS:
        raise ValueError(
            f"warmup_requests has {len(requests)} requests; TF Serving reads at most "
            f"{MAX_WARMUP_REQUESTS} warmup records. Pass at most {MAX_WARMUP_REQUESTS}, "
            "e.g. warmup_requests=requests[:1000] (a few dozen usually warm a model up)."
        )
    return requests


def _normalized_request(index: int, request: Any) -> WarmupRequest:
    where = f"warmup_requests[{index}]"
    if isinstance(request, tf.train.Example):
        return request
    if isinstance(request, (bytes, bytearray, memoryview)):
        example = tf.train.Example()
        try:
            example.ParseFromString(bytes(request))
        except protobuf_message.DecodeError as error:
            raise ValueError(
                f"{where} is {len(bytes(request))} bytes that are not a serialized "
                f"tf.train.Example ({error}). Give example.SerializeToString(), the "
                "tf.train.Example itself, or a feature dict."
            ) from None
        return example
    if isinstance(request, Mapping):
        return _checked_feature_dict(where, request)
    raise TypeError(
        f"{where} has type {type(request).__name__} ({_short(request)}); each request must be "
        "a tf.train.Example, a serialized tf.Example (bytes) or a feature dict of feature "
        "name to a list or array of values, e.g. {'age': [42.0], 'language': ['en']}."
    )


def _checked_feature_dict(where: str, request: Mapping[Any, Any]) -> dict[str, Any]:
    if not request:
        raise ValueError(
            f"{where} is an empty feature dict. Give feature name -> values, e.g. "
            "{'age': [42.0], 'language': ['en']}."
        )
    features = {}
    for name, values in request.items():
        if not isinstance(name, str) or not name:
            raise TypeError(
                f"{where} has feature name {name!r} ({type(name).__name__}); feature names "
                "must be non-empty strings, as in {'age': [42.0]}."
            )
        if values is None or isinstance(values, Mapping):
            raise TypeError(
                f"{where}[{name!r}] is {_short(values)}; a feature's values must be a "
                "list or array of numbers or strings, or one number or string."
            )
        features[name] = values
    return features


# --- 2. fit to the exported signature, write, replay ---------------------------------------


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
        _prediction_log(apis, serving, index, request)
        for index, request in enumerate(plan.requests)
    ]
    records = [log.SerializeToString() for log in logs]
    path = call_store(
        "writing the warmup requests",
        export_dir,
        lambda: _write_records(export_dir, records),
        retries=0,
        nbytes=sum(map(len, records)),
    )
    logger.info(
        "Replaying %d warmup request(s) (%s) against the serve graph",
        len(logs),
        _REQUEST_NAMES[serving.kind],
    )
    replay_warmup_file(path, export_dir, plan.descriptions, session_config)


def _prediction_log(
    apis: Any, serving: ServingSignature, index: int, request: WarmupRequest
) -> Any:
    where = f"warmup_requests[{index}]"
    log = apis.PredictionLog()
    if serving.examples_input is None:
        if isinstance(request, tf.train.Example):
            raise ValueError(
                f"{where} is a tf.train.Example, but the serving receiver takes raw tensors, "
                f"not serialized tf.Examples ('{SERVING_SIGNATURE_KEY}' inputs: "
                f"{_inputs_text(serving.signature)}). Give a feature dict of those inputs "
                "instead, e.g. {name: [values]}, or export with a parsing serving receiver "
                "(tf.estimator.export.build_parsing_serving_input_receiver_fn)."
            )
        predict = log.predict_log.request
        predict.model_spec.signature_name = SERVING_SIGNATURE_KEY
        for key, proto in _raw_tensors(where, serving.signature, request).items():
            predict.inputs[key].CopyFrom(proto)
        return log
    example = request if isinstance(request, tf.train.Example) else _encode(where, serving, request)
    if serving.kind == "predict":
        predict = log.predict_log.request
        predict.model_spec.signature_name = SERVING_SIGNATURE_KEY
        predict.inputs[serving.examples_input].CopyFrom(
            tf.make_tensor_proto([example.SerializeToString()], dtype=tf.string, shape=[1])
        )
        return log
    typed = log.classify_log.request if serving.kind == "classify" else log.regress_log.request
    typed.model_spec.signature_name = SERVING_SIGNATURE_KEY
    typed.input.example_list.examples.add().CopyFrom(example)
    return log


def _encode(where: str, serving: ServingSignature, features: Mapping[str, Any]) -> tf.train.Example:
    """A feature dict as the tf.Example the serve graph's parse op reads."""
    spec = serving.parse_spec
    if spec is None:
        raise ValueError(
            f"{where} is a feature dict, but the serve graph's '{SERVING_SIGNATURE_KEY}' "
            "signature takes serialized tf.Examples that no ParseExample op reads, so there "
            "is no parse spec to encode the dict with. Give that request as a "
            "tf.train.Example (or its serialized bytes)."
        )
    example = tf.train.Example()
    for name, values in features.items():
        if name not in spec:
            raise ValueError(
                f"{where} has feature {name!r}, which the serving receiver does not parse "
                f"(it parses: {', '.join(sorted(spec)) or 'nothing'}). Remove it or fix its name."
            )
        feature = example.features.feature[name]
        array = _coerced(f"{where}[{name!r}]", values, spec[name])
        if spec[name] == tf.string:
            feature.bytes_list.value.extend(array.ravel().tolist())
        elif spec[name].is_integer or spec[name] == tf.bool:
            feature.int64_list.value.extend(int(value) for value in array.ravel())
        else:
            feature.float_list.value.extend(float(value) for value in array.ravel())
    return example


def _raw_tensors(where: str, signature: Any, features: Mapping[str, Any]) -> dict[str, Any]:
    """A feature dict as the TensorProtos of a PredictRequest to a raw-tensor signature.

    A value with one dimension fewer than the input (e.g. ``[0.5]`` for a ``[None, 1]``
    input) is one example and gets a batch dimension of 1; a value of the input's rank is
    used as it is (a batch).
    """
    inputs = signature.inputs
    unknown = sorted(set(features) - set(inputs))
    missing = sorted(set(inputs) - set(features))
    if unknown or missing:
        raise ValueError(
            f"{where} must give every input of the '{SERVING_SIGNATURE_KEY}' signature and "
            f"nothing else ({_inputs_text(signature)}); unknown: {', '.join(unknown) or 'none'}, "
            f"missing: {', '.join(missing) or 'none'}."
        )
    protos = {}
    for key, info in inputs.items():
        dtype = tf.as_dtype(info.dtype)
        array = _coerced(f"{where}[{key!r}]", features[key], dtype)
        if not info.tensor_shape.unknown_rank and array.ndim == len(info.tensor_shape.dim) - 1:
            array = array[np.newaxis, ...]
        protos[key] = tf.make_tensor_proto(array, dtype=dtype)
    return protos


def _coerced(where: str, values: Any, dtype: tf.DType) -> np.ndarray:
    array = np.asarray(values, dtype=object if dtype == tf.string else None)
    if dtype == tf.string:
        flat = [_as_bytes(where, value) for value in array.ravel()]
        result = np.empty(len(flat), dtype=object)
        result[:] = flat
        return result.reshape(array.shape)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{where} holds {_short(values)}, which are not numbers; the serving receiver "
            f"expects {dtype.name} values."
        )
    wants_integers = dtype.is_integer or dtype == tf.bool
    if wants_integers and array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
        raise ValueError(
            f"{where} holds {_short(values)}, but the serving receiver expects whole "
            f"numbers ({dtype.name}). Give integers."
        )
    return array.astype(dtype.as_numpy_dtype)


def _as_bytes(where: str, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (str, np.str_)):
        return str(value).encode("utf-8")
    if isinstance(value, (numbers.Number, np.generic)) and not isinstance(value, bool):
        raise ValueError(
            f"{where} holds the number {value!r}, but the serving receiver expects strings. "
            f"Give it as text, e.g. {str(value)!r}."
        )
    raise ValueError(f"{where} holds {_short(value)}; the serving receiver expects strings.")


def _write_records(export_dir: str, records: Sequence[bytes]) -> str:
    directory = _fs.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(directory)
    path = _fs.join(directory, WARMUP_ASSET)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path


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
    records = list(tf.compat.v1.io.tf_record_iterator(path))
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
    return _short(" ".join(kept) or message, 300)


def _check_rows(outputs: Mapping[str, np.ndarray], rows: int | None) -> None:
    if rows is None:
        return
    for key, value in outputs.items():
        if np.ndim(value) == 0 or np.shape(value)[0] != rows:
            raise ValueError(
                f"output {key!r} has shape {list(np.shape(value))}, but TF Serving needs one "
                f"row per example ({rows})."
            )


# --- descriptions and the CLI's file -----------------------------------------------------


def _describe(request: WarmupRequest) -> str:
    if isinstance(request, tf.train.Example):
        features = {}
        for name, feature in sorted(request.features.feature.items()):
            kind = feature.WhichOneof("kind")
            features[name] = list(getattr(feature, kind).value) if kind else []
        return _short(f"tf.train.Example {features}")
    return _short(f"feature dict {dict(request)}")


def _short(value: Any, limit: int = _MAX_DESCRIPTION) -> str:
    text = " ".join(str(value).split()) if isinstance(value, str) else " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _inputs_text(signature: Any) -> str:
    parts = []
    for key, info in sorted(signature.inputs.items()):
        shape = (
            "?" if info.tensor_shape.unknown_rank else [dim.size for dim in info.tensor_shape.dim]
        )
        parts.append(f"{key} {tf.as_dtype(info.dtype).name} {shape}")
    return ", ".join(parts)


def read_warmup_file(path: str) -> list[bytes | dict[str, Any]]:
    """The requests in ``path``: a TFRecord of serialized tf.Examples, or JSON lines.

    JSON lines hold one feature dict per line (``{"age": [42.0], "language": ["en"]}``);
    blank lines are skipped. A file whose first non-blank character is ``{`` is read as
    JSON lines, any other as a TFRecord.

    Raises:
      ValueError: the file is missing, empty, or neither format; the message says where.
    """
    if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
        raise ValueError(
            f"--warmup {path!r} is not a file; give a TFRecord of tf.Examples or JSON lines."
        )
    with tf.io.gfile.GFile(path, "rb") as warmup_file:
        content = warmup_file.read()
    if not content.strip():
        raise ValueError(f"--warmup {path!r} is empty; give at least one request.")
    if content.lstrip()[:1] == b"{":
        return _json_lines(path, content)
    try:
        return list(tf.compat.v1.io.tf_record_iterator(path))
    except tf.errors.OpError as error:
        raise ValueError(
            f"--warmup {path!r} is neither JSON lines (its first character is not '{{') nor a "
            f"readable TFRecord ({_short(error.message)}). Give a TFRecord of serialized "
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
