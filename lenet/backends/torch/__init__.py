"""PyTorch backend: the spec as an ``nn.Sequential`` (:mod:`.backend`), torch's own pruning (:mod:`.prune`)
and int8 (:mod:`.quant`).  This declaration imports nothing of torch."""
from .. import Capabilities

NAME = "torch"
CAPABILITIES = Capabilities(framework="torch", extra="torch", infer_modes=("eager", "compile"),
                            train_modes=("eager", "compile"), devices=("cpu", "gpu"),
                            flop_counters=("torch_flop_counter", "thop"),
                            compression={"prune-masked": ("*",), "int8-static": ("ptq",),
                                         "int8-dynamic": ("dense",)})
