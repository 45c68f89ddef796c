"""TF Serving warmup requests: the plan, checked before anything is written."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import tensorflow as tf
from google.protobuf import message as protobuf_message

from estimator_ext._tf_private import members as tf_private

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
    if tf_private.tf_estimator.ModeKeys.PREDICT not in tuple(modes):
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
            f"{short_text(warmup_requests)} ({type(warmup_requests).__name__}). Wrap a single "
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
        f"{where} has type {type(request).__name__} ({short_text(request)}); each request must be "
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
                f"{where}[{name!r}] is {short_text(values)}; a feature's values must be a "
                "list or array of numbers or strings, or one number or string."
            )
        features[name] = values
    return features


def _describe(request: WarmupRequest) -> str:
    if isinstance(request, tf.train.Example):
        features = {}
        for name, feature in sorted(request.features.feature.items()):
            kind = feature.WhichOneof("kind")
            features[name] = list(getattr(feature, kind).value) if kind else []
        return short_text(f"tf.train.Example {features}")
    return short_text(f"feature dict {dict(request)}")


def short_text(value: Any, limit: int = _MAX_DESCRIPTION) -> str:
    text = " ".join(str(value).split()) if isinstance(value, str) else " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
