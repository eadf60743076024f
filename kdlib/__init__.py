"""kdlib: the small shared library behind kd-report."""

import os

# Keep TensorFlow's start-up noise out of notebooks and test logs; Keras runs on TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # also makes TF results repeatable
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from kdlib.numerics import flush_denormals  # noqa: E402 (after the environment above)

flush_denormals()  # before torch starts its threads: they copy the flag (kdlib.numerics)

__version__ = "0.1.0"
