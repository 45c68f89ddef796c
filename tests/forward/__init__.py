"""The forward-loading test: a TF 2.15 export read on the newest TensorFlow (make forward)."""
