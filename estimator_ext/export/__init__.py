"""The export path: from the arguments to a published SavedModel.

An export is checked once into a plan (``plan.py``), then written (``write.py``'s
``write_plan``, from one checkpoint): each mode's graph is built from
its receiver and the estimator's ``model_fn`` (``mode_graph.py``, ``saver_graph.py``),
the variables are written once from the checkpoint (``estimator_ext.variables``), every
mode's meta graph is added, ``assets_extra`` and the warmup file are written
(``assets_extra.py``, ``estimator_ext.serving``), and the directory is published
(``estimator_ext.storage``). ``result.py`` is what the caller gets back; ``errors.py``
names the failures TensorFlow's own export also has, so TF's entry points can keep TF's words.

This ``__init__`` imports nothing, so the TensorFlow-free modules here (``method.py``,
``result.py``) can be imported before TensorFlow.
"""
