"""Keras 3 (TensorFlow) backend: the spec as a channels-last ``keras.Sequential`` (:mod:`.backend`) and
TFLite full-integer int8 (:mod:`.tflite`); :mod:`.backend` lists the modules.  This declaration imports nothing of
TensorFlow.

Tuned modes: ``"graph"`` (one ``tf.function``), the default, for both phases.  TensorFlow's guide recommends
``tf.function`` and offers XLA (``jit_compile=True``) as an option to measure; on the 2-core CPU box XLA ran
this network 2-4x slower than the graph, in inference and in training (docs/tuned-modes.md), so it is a mode
of its own, not the tuned one."""
from .. import Capabilities

NAME = "keras"
CAPABILITIES = Capabilities(framework="tensorflow", extra="tf", infer_modes=("graph", "eager", "xla", "predict"),
                            train_modes=("graph", "eager", "xla", "fit"), devices=("cpu", "gpu"),
                            tuned={"infer": "graph", "train": "graph"},
                            flop_counters=("tf_profiler",), compression={"int8-static": ("ptq",)})
