"""What a child process's stderr holds besides TensorFlow's own C++ start-up lines.

TensorFlow 2.16 and later log through absl, which writes a few lines to stderr as
TensorFlow loads whatever TF_CPP_MIN_LOG_LEVEL says: absl's notice ("WARNING: All log
messages before absl::InitializeLog() is called are written to STDERR") and lines in absl's
format (``I0000 00:00:1796487748.208440   14124 port.cc:153] oneDNN custom operations are
on. ...``). Tests of what estimator_ext and the examples write leave those out.
"""

from __future__ import annotations

import re

TENSORFLOW_STARTUP_LINE = re.compile(
    r"[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
)


def without_tensorflow_startup(stderr: str) -> list[str]:
    """``stderr``'s lines less TensorFlow's own start-up lines (TENSORFLOW_STARTUP_LINE)."""
    return [line for line in stderr.splitlines() if not TENSORFLOW_STARTUP_LINE.match(line)]
