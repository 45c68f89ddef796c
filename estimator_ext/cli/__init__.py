"""The ``estimator-ext`` command: ``run``, ``inspect``, ``export`` and ``convert``.

Its entry point is :func:`main` (``estimator-ext=estimator_ext.cli:main``; also
``python -m estimator_ext``). The parts: :mod:`~estimator_ext.cli.commands` (parsing and the
commands), :mod:`~estimator_ext.cli.inputs` (``--estimator``, ``--receivers`` and the
other inputs), :mod:`~estimator_ext.cli.warmup_file` (``--warmup``),
:mod:`~estimator_ext.cli.progress_bar`, :mod:`~estimator_ext.cli.run_script` (``run``) and
:mod:`~estimator_ext.cli.convert_command` (``convert``).
"""

from __future__ import annotations

from estimator_ext.cli.commands import main

__all__ = ["main"]
