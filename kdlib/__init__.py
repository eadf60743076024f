"""kdlib: the small shared library behind kd-report.

What runs when kdlib is imported, all of it here, in this order (import ``kdlib`` before torch
runs any work and before TensorFlow loads):

- The environment of TensorFlow and Keras, which TensorFlow reads once, when it loads. Two
  settings change results, so they are set whatever the environment says (a number must not
  depend on a variable no cache key holds): ``TF_ENABLE_ONEDNN_OPTS=0`` (oneDNN's fused kernels
  off: Keras runs repeat bit for bit) and ``KERAS_BACKEND=tensorflow``. ``TF_CPP_MIN_LOG_LEVEL=3``
  (its start-up noise stays out of notebooks and test logs) is only a default.
- :func:`kdlib.numerics.flush_denormals`: torch flushes denormals to zero on every CPU thread.
  Its worker threads copy the flag from the thread that starts them, so it must come before
  torch's first parallel work; it raises if it comes too late.

No other kdlib module changes anything when imported; each only defines constants, functions,
classes and its chapter's evidence registry. What used to run on import now runs where it is
needed: the seaborn theme (:func:`kdlib.plots.style`, called by every figure) and quieting
TensorFlow's retracing warnings (in :mod:`kdlib.distiller`'s functions). Importing
:mod:`kdlib.distiller` loads Keras and TensorFlow, so experiments import it only on their Keras
path. torch's thread count is set around each unit of work from its parameters
(:class:`kdlib.config.Numerics`), never at import.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ["KERAS_BACKEND"] = "tensorflow"

from kdlib.numerics import flush_denormals  # noqa: E402 (after the environment above)

flush_denormals()  # before torch starts its threads: they copy the flag (kdlib.numerics)

__version__ = "0.1.0"
