"""The decorator and ``patch()`` / ``unpatch()`` / ``patched()``: the public wiring.

Three ways to get ``export_all_saved_models`` on an estimator, from most to least explicit:

* :class:`estimator_ext.MultiExportMixin` in your own class's bases;
* :func:`multi_export`, a class decorator for your own Estimator subclasses;
* :func:`patch`, which decorates TensorFlow's own estimator classes and brings back the
  ``tf.contrib.estimator`` names, so legacy scripts run unmodified (this is what
  ``estimator-ext run script.py`` does around the script).

The pieces live in modules named for them: :mod:`~estimator_ext.patching.lifecycle`
(the functions below, and *when* a module is patched: at once when it is already
imported, otherwise by a wrapt post-import hook when it is), the undo log in
:mod:`~estimator_ext.patching.recorder` (every change recorded after it succeeded, undone
in reverse, like pytest's ``monkeypatch``), what each target module gets in
:mod:`~estimator_ext.patching.targets`, the ``tf.contrib`` namespace and the two legacy
shims in :mod:`~estimator_ext.patching.legacy`, and the functions with TF's own export
contracts in :mod:`~estimator_ext.patching.tf_entry_points`; the module paths are in
:mod:`estimator_ext._tf_private.module_paths`. Nothing here imports TensorFlow at import
time.

What :func:`patch` changes, while it is active:

* ``export_all_saved_models`` on every canned estimator class of ``tf.estimator`` and
  ``tf.compat.v1.estimator`` (Linear*, DNN*, DNNLinearCombined*, Baseline*: classifiers,
  regressors and the head-based ``*Estimator`` classes), and on ``Estimator`` itself in
  both namespaces, because ``tf.keras.estimator.model_to_estimator`` returns a plain
  ``tf.estimator.Estimator``. As a consequence, every Estimator, custom model_fn ones
  included, has the method while patched.
* ``tf.contrib`` (also ``tf.compat.v1.contrib`` and the modules ``tensorflow.contrib``,
  ``tensorflow.contrib.estimator``): a minimal namespace holding only
  ``tf.contrib.estimator.export_all_saved_models``, ``export_saved_model_for_mode``,
  ``build_raw_supervised_input_receiver_fn`` and
  ``build_supervised_input_receiver_fn_from_input_fn``. Any other name raises an
  AttributeError saying so. An existing ``tf.contrib`` is left alone.
* ``tf.compat.v1.placeholder`` (also in the private module that defines it): under eager
  execution, where TensorFlow raises ``RuntimeError``, it returns ``tf.TensorSpec(shape,
  dtype, name)``, a template the receiver builders accept. In graph mode it is TF's own.
* ``tf.estimator.export.build_parsing_serving_input_receiver_fn`` (v1 and v2): feature-spec
  values that are tensor templates are read as ``tf.io.FixedLenFeature``.
* On TensorFlow 2.16 and later, which dropped them: ``tf.estimator`` and
  ``tf.compat.v1.estimator``, tensorflow-estimator 2.15.0's API loaded on first use
  (:mod:`~estimator_ext.patching.estimator_namespace`); TensorFlow's own are left alone.
* Only with ``patch(builtin=True)``: TensorFlow's own
  ``Estimator.experimental_export_all_saved_models`` (inherited by every Estimator; TFMA's
  ``export_eval_savedmodel`` and TFX call it) runs through estimator_ext, keeping its TF
  2.15 contract (None receiver entries skipped, ``bytes`` result, the same tags and
  signatures) with our atomic publish and nothing left behind on failure.
"""

from __future__ import annotations

from estimator_ext.patching.lifecycle import is_patched, multi_export, patch, patched, unpatch
from estimator_ext.patching.targets import (
    BUILTIN_METHOD_NAME,
    EXPORT_METHOD,
    METHOD_NAME,
    PatchRecord,
)

__all__ = [
    "BUILTIN_METHOD_NAME",
    "EXPORT_METHOD",
    "METHOD_NAME",
    "PatchRecord",
    "is_patched",
    "multi_export",
    "patch",
    "patched",
    "unpatch",
]
