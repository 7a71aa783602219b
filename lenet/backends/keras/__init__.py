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
                            flop_counters=("tf_profiler",), compression={"int8-static": ("ptq",)},
                            # importing TensorFlow alone costs about 4 s of CPU; valgrind runs the other backends'
                            # whole processes 40-80 times slower (docs/instructions.md), so each counted benchmark
                            # (two processes) would take about 10 minutes of CPU, and the quick set hours
                            no_instruction_count="TensorFlow's import alone would take minutes under valgrind "
                                                 "(about 4 s of CPU at 40-80x): about 10 min per counted benchmark")
