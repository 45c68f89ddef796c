"""Tests of estimator_ext/storage/: local copies and publishing, ram://, object stores."""
