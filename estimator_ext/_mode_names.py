"""How messages name a mode: ``'infer' (ModeKeys.PREDICT)``. TensorFlow-free.

Every stage names modes in its errors (the plan, the variables, the serving checks), so
the names live below all of them. The values are ``tf.estimator.ModeKeys``' own strings.
"""

from __future__ import annotations

#: tf.estimator.ModeKeys value -> how a user writes it.
NAME_BY_MODE = {
    "train": "ModeKeys.TRAIN",
    "eval": "ModeKeys.EVAL",
    "infer": "ModeKeys.PREDICT",
}


def mode_label(mode: str) -> str:
    """``'train' (ModeKeys.TRAIN)``: how error messages name a mode."""
    return f"{mode!r} ({NAME_BY_MODE[mode]})" if mode in NAME_BY_MODE else repr(mode)


def map_entry(mode: str) -> str:
    """``input_receiver_fn_map['train'] (ModeKeys.TRAIN)``: how errors name a map entry."""
    suffix = f" ({NAME_BY_MODE[mode]})" if mode in NAME_BY_MODE else ""
    return f"input_receiver_fn_map[{mode!r}]" + suffix
