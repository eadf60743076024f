"""kdlib: the small shared library behind kd-report.

What runs when kdlib is imported, all of it here, in this order (import ``kdlib`` before torch
runs any work and before TensorFlow loads):

- Environment defaults for TensorFlow and Keras, set only where the user has not set them, as
  TensorFlow reads them once, when it loads: ``TF_CPP_MIN_LOG_LEVEL=3`` (its start-up noise
  stays out of notebooks and test logs), ``TF_ENABLE_ONEDNN_OPTS=0`` (also makes its results
  repeatable) and ``KERAS_BACKEND=tensorflow``.
- :func:`kdlib.numerics.flush_denormals`: torch flushes denormals to zero on every CPU thread.
  Its worker threads copy the flag from the thread that starts them, so it must come before
  torch's first parallel work; it raises if it comes too late.

No other kdlib module changes anything when imported; each only defines constants, functions,
classes and its chapter's evidence registry. What used to run on import now runs where it is
needed: the seaborn theme (:func:`kdlib.plots.style`, called by every figure) and quieting
TensorFlow's retracing warnings (in :mod:`kdlib.distiller`'s functions). Importing
:mod:`kdlib.distiller` loads Keras and TensorFlow, so experiments import it only on their Keras
path; :data:`kdlib.executor.THREADS` records torch's thread count as kdlib found it.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from kdlib.numerics import flush_denormals  # noqa: E402 (after the environment above)

flush_denormals()  # before torch starts its threads: they copy the flag (kdlib.numerics)

__version__ = "0.1.0"
