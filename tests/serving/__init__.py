"""Tests of estimator_ext/serving/: the serving signature, warmup requests."""
