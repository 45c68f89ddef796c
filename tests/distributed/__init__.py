"""Multi-process tf.estimator clusters (TF_CONFIG) around AllModesExporter."""
