"""Adversarial reliability suite for estimator_ext (issue 6): kills, races, write failures,
exceptions, bad input, fuzzed inputs and an untouched checkpoint, all bounded in time."""
