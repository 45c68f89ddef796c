"""Tests of estimator_ext/cli/: the estimator-ext command."""
