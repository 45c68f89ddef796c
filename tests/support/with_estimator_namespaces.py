"""``python -m tests.support.with_estimator_namespaces SCRIPT ARGS``: SCRIPT as ``__main__``,
with ``tf.estimator`` where TensorFlow 2.16+ lacks it, as the test process has it.

For the docs' blocks, written as TensorFlow 2.15 readers run them (``python SCRIPT``): some
show ``patch()``/``unpatch()`` themselves, which ``estimator-ext run`` (patched throughout)
would hide. Importing ``tests.support`` gives TensorFlow the namespaces, unrecorded
(tests/support/estimator_namespaces.py); on TensorFlow 2.12-2.15 it changes nothing.
"""

from __future__ import annotations

import os
import runpy
import sys

import tests.support  # noqa: F401  (registers tf.estimator's namespaces)

if __name__ == "__main__":
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")
