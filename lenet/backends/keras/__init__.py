"""Keras 3 (TensorFlow) backend: the spec as a channels-last ``keras.Sequential`` (:mod:`.backend`) and
TFLite full-integer int8 (:mod:`.tflite`); :mod:`.backend` lists the modules.  This declaration imports nothing of
TensorFlow."""
from .. import Capabilities

NAME = "keras"
CAPABILITIES = Capabilities(framework="tensorflow", extra="tf", infer_modes=("graph", "eager", "xla", "predict"),
                            train_modes=("graph", "eager", "xla", "fit"), devices=("cpu", "gpu"),
                            flop_counters=("tf_profiler",), compression={"int8-static": ("ptq",)})
