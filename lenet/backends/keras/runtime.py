"""TensorFlow and Keras, imported once and in order: the log level and Keras' backend set first, TF's thread
pools sized before its runtime starts; the versions and the devices.

Only this package imports TensorFlow and Keras, and its other modules take them from here (``from .runtime
import keras, tf``), so that the environment above is in force before either is imported.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

from ...measure import threads  # noqa: E402
from .. import DeviceError, Model  # noqa: E402
from ..common import check_thread_count  # noqa: E402

# --------------------------------------------------------------------------- threads
#
# TensorFlow sizes its thread pools once, when its runtime starts (the first
# op or device query).  Apply the requested count now, before Keras is even
# imported; later calls can only confirm it.


def _set_pool(get, set_, n: int) -> None:
    if get() == n:
        return
    try:
        set_(n)
    except RuntimeError:
        pass  # the runtime has started; thread_counts() reports what is in force


def set_threads(n: int) -> dict:
    """Ask for ``n`` intra-op and ``n`` inter-op threads.

    This takes effect only before TensorFlow's runtime has started (this
    module applies :func:`lenet.measure.threads.requested` on import, so set
    ``LENET_THREADS`` or call :func:`lenet.measure.threads.set_threads` before
    importing the backend).  Afterwards the call changes nothing and does not
    fail; :func:`thread_counts` reports the values actually in force.
    """
    n = check_thread_count(n)
    cfg = tf.config.threading
    _set_pool(cfg.get_intra_op_parallelism_threads, cfg.set_intra_op_parallelism_threads, n)
    _set_pool(cfg.get_inter_op_parallelism_threads, cfg.set_inter_op_parallelism_threads, n)
    return thread_counts()


def thread_counts() -> dict:
    """TF's pool sizes in force (0 means TF's default, all cores: seen only when TF's runtime started
    before this module was imported, so that the import-time setting could not apply)."""
    cfg = tf.config.threading
    return {"tf_intra": cfg.get_intra_op_parallelism_threads(), "tf_inter": cfg.get_inter_op_parallelism_threads()}


set_threads(threads.requested())

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"the keras backend of lenet-bench needs Keras on TensorFlow, but KERAS_BACKEND is "
        f"{keras.backend.backend()!r}; unset it or set KERAS_BACKEND=tensorflow"
    )


def versions() -> dict:
    return {"tensorflow": tf.__version__, "keras": keras.__version__}


# --------------------------------------------------------------------------- devices


def _gpus() -> list:
    return tf.config.list_physical_devices("GPU")


def devices() -> list[str]:
    """Usable device names: ``"cpu"``, plus ``"gpu"`` when TensorFlow sees a GPU."""
    return ["cpu"] + (["gpu"] if _gpus() else [])


def resolve_device(device: str) -> tuple[str, str]:
    """``(name for Model.device, TF device string)``; ``"cuda"`` is accepted for ``"gpu"``."""
    name = str(device).lower()
    if name == "cpu":
        return "cpu", "/CPU:0"
    if name in ("gpu", "cuda"):
        if not _gpus():
            raise DeviceError(
                f"device {device!r} requested but TensorFlow {tf.__version__} sees no GPU "
                f"(tensorflow-cpu, or no CUDA device visible); use device='cpu'"
            )
        return "gpu", "/GPU:0"
    raise DeviceError(f"unknown device {device!r} for the keras backend; choose one of {devices()}")


def tf_device(model: Model) -> str:
    return "/GPU:0" if model.device == "gpu" else "/CPU:0"
