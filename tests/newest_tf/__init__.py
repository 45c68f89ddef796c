"""tensorflow-estimator 2.15.0 on TensorFlow 2.16 and later through estimator_ext (issue 23):
the stand-ins and their import hook, the features that stay unsupported, legacy Keras, and
parity through the three ways in. Each test runs on every supported TensorFlow; those that only
mean something on one side of 2.15/2.16 say so in their skip reason."""
