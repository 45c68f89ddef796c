"""Keeps the examples' output readable: silences TensorFlow's start-up and deprecation noise.

Call :func:`quiet_tensorflow` before anything imports TensorFlow: the C++ log level is
read once, when the library loads.
"""

import logging
import os
import warnings


def quiet_tensorflow() -> None:
    """Only errors from TensorFlow's C++ core, its Python logger and absl; no deprecation
    warnings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # 2: hide INFO and WARNING from C++
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="tensorflow")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")

    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)

    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    tf.autograph.set_verbosity(0)
