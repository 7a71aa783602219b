"""Keras 3 (TensorFlow) backend: the contract (:class:`lenet.backends.Backend`), gathered from its modules.

* :mod:`.runtime`  TensorFlow and Keras imported in order, threads, versions, devices;
* :mod:`.model`    the spec as a channels-last ``keras.Sequential``: build, save, load, predict;
* :mod:`.weights`  canonical weights <-> Keras variables (kernel layouts, flatten order);
* :mod:`.measure`  the forward pass per inference mode, TF's FLOP profiler, GPU peak memory;
* :mod:`.optim`    Keras' optimizers in torch's form (weight decay, momentum, Adam's epsilon);
* :mod:`.train`    the GradientTape trainers (graph, eager, xla) and Keras' ``fit``;
* :mod:`.tflite`   TFLite full-integer int8, the native compression technique.

Only this package imports TensorFlow and Keras.
"""
from ..common import cold_start, mode_unavailable, warm_up  # the contract's defaults
from . import CAPABILITIES, NAME
from .measure import count_flops, make_forward, peak_memory, reset_peak_memory
from .model import build, load, predict, save
from .runtime import devices, set_threads, thread_counts, versions
from .tflite import compress, load_artifact
from .train import train, trainer
from .weights import get_weights, set_weights

__all__ = ["CAPABILITIES", "NAME", "build", "cold_start", "compress", "count_flops", "devices", "get_weights",
           "load", "load_artifact", "make_forward", "mode_unavailable", "peak_memory", "predict",
           "reset_peak_memory", "save", "set_threads", "set_weights", "thread_counts", "train", "trainer",
           "versions", "warm_up"]
