"""PyTorch backend: the spec as an ``nn.Sequential`` (:mod:`.backend`), torch's own pruning (:mod:`.prune`)
and int8 (:mod:`.quant`).  This declaration imports nothing of torch.

Tuned modes (PyTorch's Performance Tuning Guide): inference ``"frozen"`` (channels-last, traced, frozen and
``optimize_for_inference``), training ``"channels_last"``; see :mod:`.modes`."""
from .. import Capabilities

NAME = "torch"
CAPABILITIES = Capabilities(framework="torch", extra="torch",
                            infer_modes=("eager", "compile", "channels_last", "frozen"),
                            train_modes=("eager", "compile", "channels_last"), devices=("cpu", "gpu"),
                            tuned={"infer": "frozen", "train": "channels_last"},
                            flop_counters=("torch_flop_counter", "thop"),
                            compression={"prune-masked": ("*",), "int8-static": ("ptq",),
                                         "int8-dynamic": ("dense",)})
