"""Encoding one warmup request as the ``PredictionLog`` the serving signature takes."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from estimator_ext.serving.signature import SERVING_SIGNATURE_KEY, ServingSignature
from estimator_ext.serving.warmup_plan import WarmupRequest, short_text


def prediction_log(apis: Any, serving: ServingSignature, index: int, request: WarmupRequest) -> Any:
    where = f"warmup_requests[{index}]"
    log = apis.PredictionLog()
    if serving.examples_input is None:
        if isinstance(request, tf.train.Example):
            raise ValueError(
                f"{where} is a tf.train.Example, but the serving receiver takes raw tensors, "
                f"not serialized tf.Examples ('{SERVING_SIGNATURE_KEY}' inputs: "
                f"{inputs_text(serving.signature)}). Give a feature dict of those inputs "
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
            f"nothing else ({inputs_text(signature)}); unknown: {', '.join(unknown) or 'none'}, "
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
            f"{where} holds {short_text(values)}, which are not numbers; the serving receiver "
            f"expects {dtype.name} values."
        )
    wants_integers = dtype.is_integer or dtype == tf.bool
    if wants_integers and array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
        raise ValueError(
            f"{where} holds {short_text(values)}, but the serving receiver expects whole "
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
    raise ValueError(f"{where} holds {short_text(value)}; the serving receiver expects strings.")


def inputs_text(signature: Any) -> str:
    parts = []
    for key, info in sorted(signature.inputs.items()):
        shape = (
            "?" if info.tensor_shape.unknown_rank else [dim.size for dim in info.tensor_shape.dim]
        )
        parts.append(f"{key} {tf.as_dtype(info.dtype).name} {shape}")
    return ", ".join(parts)
