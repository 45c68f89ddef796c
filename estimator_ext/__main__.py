"""``python -m estimator_ext ...``: the ``estimator-ext`` command line (see estimator_ext.cli)."""

import sys

from estimator_ext.cli import main

if __name__ == "__main__":
    sys.exit(main())
