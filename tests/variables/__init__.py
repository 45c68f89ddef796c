"""Tests of estimator_ext/variables/: checkpoint catalog, copy, byte-range subset, bundle index."""
