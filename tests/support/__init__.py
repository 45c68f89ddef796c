"""Support code for the tests: tiny data sets and models, servers, proxies, child processes.

Nothing here is a test. Modules are imported by name (``from tests.support import data``);
this package re-exports nothing. Some run as child processes of the tests
(``worker.py``, ``store_child.py``, ``cluster_task.py``, ``python -m tests.support.subset_model``).

Importing it gives TensorFlow 2.16+ its ``tf.estimator`` for the rest of the process
(:mod:`tests.support.estimator_namespaces`), in the pytest process and in every child that
imports a helper from here, so that both run the same code.
"""

from tests.support import estimator_namespaces

estimator_namespaces.register()
