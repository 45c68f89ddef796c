"""Every private TensorFlow name estimator_ext relies on, in one inventory.

TensorFlow 2.15 keeps several useful pieces private, and ``tensorflow-estimator`` is
frozen at 2.15.0, so leaning on them is safe, but each use is named in this package and
nowhere else: if one ever moves, only these files change.

* :mod:`~estimator_ext._tf_private.module_paths`: the private module paths, as plain
  strings, TensorFlow-free (``patching`` waits for those modules with post-import hooks
  instead of importing them, so it must not import TensorFlow);
* :mod:`~estimator_ext._tf_private.members`: the private modules imported through those
  strings, and every private attribute of a TensorFlow object, behind small functions;
* TensorFlow 2.16 and later: :mod:`~estimator_ext._tf_private.removed_modules` (stand-ins for
  the modules tensorflow-estimator 2.15.0 imports that those releases deleted),
  :mod:`~estimator_ext._tf_private.import_hook` (the finder that serves them, installed by
  ``import estimator_ext``) and :mod:`~estimator_ext._tf_private.legacy_keras` (canned
  estimators under Keras 3 say what to install and set).

Private means ``tensorflow.python.*``, ``tensorflow_estimator.python.*`` and
``_``-prefixed attributes of TensorFlow objects; generated protos
(``tensorflow.core.*_pb2``) and ``tf.*`` names are public. ``tests/test_private_names.py``
fails when such a name appears anywhere else in the package.

This ``__init__`` imports nothing, so importing ``module_paths`` never loads TensorFlow.
"""
