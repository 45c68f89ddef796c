"""The tf.contrib.estimator.export_all_saved_models sample, as a TF 1 user wrote it.

This is the contract's sample usage (shared/seed/export_all_saved_models.txt), left as
legacy code: it knows nothing of estimator_ext and calls ``tf.contrib`` and
placeholders at the top level. Its only edits are the ones a script needs to run at all
on TensorFlow 2.15:

* ``tf.placeholder`` is spelled ``tf.compat.v1.placeholder`` (TF 2 has no ``tf.placeholder``);
* the pieces the sample leaves out (``age``, ``language``, ``input_fn``, a model
  directory) are filled in with tiny data, in a temporary directory;
* the age weights are read from ``'linear/linear_model/age/weights/Read/ReadVariableOp:0'``:
  the sample's ``'linear/linear_model/age/weights'`` names an operation, not a tensor
  (``get_tensor_by_name`` refuses it, in TF 1 too), and in TF 2.15 the variable is a
  resource variable whose ``:0`` output is a handle; its value is the ``Read`` tensor.

Run it through estimator_ext, which restores ``tf.contrib.estimator`` and lets the
top-level placeholders work under eager execution::

    python -m estimator_ext run examples/legacy_contrib_script.py [WORKDIR]
    estimator-ext run examples/legacy_contrib_script.py [WORKDIR]

or call ``estimator_ext.patch()`` before running it. Run directly with ``python``, it
fails the way it does on plain TensorFlow 2 (no ``tf.contrib``).

It prints the export directory and the age weights read back from the TRAIN graph.
"""

import json
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.python.client import session
from tensorflow.python.framework import dtypes, ops
from tensorflow.python.ops import array_ops
from tensorflow.python.saved_model import loader, tag_constants
from tensorflow_estimator.python.estimator import model_fn as model_fn_lib

workdir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="legacy_contrib_")

age = tf.feature_column.numeric_column("age", dtype=tf.int64)
language = tf.feature_column.categorical_column_with_vocabulary_list("language", ["en", "fr", "de"])


def input_fn():
    features = {
        "age": np.array([[18], [25], [33], [41], [52], [60], [23], [47]], dtype=np.int64),
        "language": np.array([["en"], ["fr"], ["de"], ["en"], ["fr"], ["de"], ["en"], ["fr"]]),
    }
    labels = np.array([[0], [0], [1], [1], [1], [1], [0], [1]], dtype=np.int64)
    return tf.data.Dataset.from_tensor_slices((features, labels)).repeat(10).batch(4)


classifier = tf.estimator.LinearClassifier(
    feature_columns=[age, language], model_dir=os.path.join(workdir, "model")
)
classifier.train(input_fn=input_fn)

feature_spec = {
    "age": tf.compat.v1.placeholder(dtype=tf.int64),
    "language": array_ops.placeholder(dtype=tf.string),
}
label_spec = tf.compat.v1.placeholder(dtype=dtypes.int64)

train_rcvr_fn = tf.contrib.estimator.build_raw_supervised_input_receiver_fn(
    feature_spec, label_spec
)

serve_rcvr_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(feature_spec)

rcvr_fn_map = {
    model_fn_lib.ModeKeys.TRAIN: train_rcvr_fn,
    model_fn_lib.ModeKeys.PREDICT: serve_rcvr_fn,
}

export_dir = tf.contrib.estimator.export_all_saved_models(
    classifier,
    export_dir_base=os.path.join(workdir, "my_model/"),
    input_receiver_fn_map=rcvr_fn_map,
)

# export_dirs is a dict of directories with SavedModels, which
# can be used for serving, analysis with TFMA, or directly loaded in.
with ops.Graph().as_default() as graph:
    with session.Session(graph=graph) as sess:
        loader.load(sess, [tag_constants.TRAINING], export_dir)
        weights = graph.get_tensor_by_name("linear/linear_model/age/weights/Read/ReadVariableOp:0")
        age_weights = sess.run(weights)

print("export_dir:", export_dir)
print("age weights:", json.dumps(age_weights.tolist()))
