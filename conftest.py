"""Makes the checkout importable for pytest without an install, and quiets TF's C++ logs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
