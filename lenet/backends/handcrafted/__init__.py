"""LeNet-5 written by hand in NumPy: layers, loss, optimizers and the backend functions.

The package imports NumPy only (never torch, TensorFlow or Keras).  The
contract (:class:`lenet.backends.Backend`) lives in :mod:`.backend`; the
float64 :class:`.model.Net` (``build(arch, seed, dtype=np.float64)``) serves
gradient checks; :mod:`.int8` is its native int8 engine.
"""
from .. import Capabilities

NAME = "handcrafted"
CAPABILITIES = Capabilities(framework="numpy", extra=None, infer_modes=("eager",), train_modes=("eager",),
                            devices=("cpu",), compression={"int8-static": ("ptq",)},
                            tuned={"infer": "eager", "train": "eager"})  # its only mode is its tuned one
