"""Support code for the tests: tiny data sets and models, servers, proxies, child processes.

Nothing here is a test. Modules are imported by name (``from tests.support import data``);
this package re-exports nothing. Some run as child processes of the tests
(``worker.py``, ``store_child.py``, ``cluster_task.py``, ``python -m tests.support.subset_model``).
"""
