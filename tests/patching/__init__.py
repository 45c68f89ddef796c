"""Tests of estimator_ext/patching/: the recorder, patch()/unpatch(), the builtin route."""
