"""PyTorch backend: the contract (:class:`lenet.backends.Backend`), gathered from its modules.

* :mod:`.model`        devices, threads, versions; the spec as an ``nn.Sequential``: build, save, load, predict;
* :mod:`.weights`      canonical weights <-> the state dict (dense weights transposed);
* :mod:`.modes`        eager and ``torch.compile``: availability, cold compiles, the compiler's warm-up;
* :mod:`.measure`      the forward pass per inference mode, FLOP counters, CUDA peak memory;
* :mod:`.train`        the trainer (eager or compiled step) and the shared epoch loop;
* :mod:`.compression`  the native compression hooks (:mod:`.prune`, :mod:`.quant`).

Only this package imports torch.
"""
from . import CAPABILITIES, NAME
from .compression import compress, load_artifact
from .measure import count_flops, make_forward, peak_memory, reset_peak_memory
from .model import build, devices, load, predict, save, set_threads, thread_counts, versions
from .modes import cold_start, mode_unavailable, warm_up
from .train import train, trainer
from .weights import get_weights, set_weights

__all__ = ["CAPABILITIES", "NAME", "build", "cold_start", "compress", "count_flops", "devices", "get_weights",
           "load", "load_artifact", "make_forward", "mode_unavailable", "peak_memory", "predict",
           "reset_peak_memory", "save", "set_threads", "set_weights", "thread_counts", "train", "trainer",
           "versions", "warm_up"]
