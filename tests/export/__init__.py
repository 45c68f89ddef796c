"""Tests of estimator_ext/export/: the plan, receivers, per-mode graphs, the Saver graph."""
