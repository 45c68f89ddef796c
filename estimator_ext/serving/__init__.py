"""What the serve graph offers and proves: its signature, TF Serving warmup, descriptions.

``signature.py`` reads the exported serve graph's ``serving_default`` signature and what it
parses; the warmup requests are planned (``warmup_plan.py``), encoded as the signature's
``PredictionLog`` (``warmup_encode.py``), then written and replayed against the exported
graph before publishing (``warmup_replay.py``). ``saved_model_file.py`` and
``description.py`` read and describe a SavedModel for :mod:`estimator_ext.inspect`.
"""
