"""``torch.nn.utils.prune``, the native masked pruning of PyTorch, on a torch-backend model (imports torch only).

``prune.l1_unstructured`` (layer-wise) and ``prune.global_unstructured``
(global) remove the smallest ``|w|``, the same masks as
:func:`lenet.compress.pruning.magnitude_masks` up to ties.  What they do to the
module is the point of this file:

* each pruned module's ``weight`` parameter becomes ``weight_orig`` plus a
  ``weight_mask`` buffer, and a forward pre-hook recomputes
  ``weight = weight_orig * weight_mask`` on EVERY forward call.  The state
  dict therefore holds two full-size tensors per pruned layer: it is about
  twice the size of the unpruned one, not smaller (:func:`state_dict_bytes`);
  every multiply of the convolution still runs, plus one more per weight for
  the mask.  This is why "half the FLOPs" in the reference study was wrong.
* gradients reach ``weight_orig`` only through the mask, so the masked
  entries get a zero gradient and fine-tuning keeps the sparsity by itself
  (with weight decay 0: decay would move ``weight_orig`` but the mask still
  zeroes the effective weight).
* ``prune.remove`` folds the mask in (``weight = weight_orig * mask``), drops
  the hook and the buffer; the model is then an ordinary dense model with
  zeros, and the backend's ``get_weights`` works again.
"""
from __future__ import annotations

import io

import torch
from torch import nn
from torch.nn.utils import prune


def _targets(net: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def apply(net: nn.Module, sparsity: float, scope: str = "layer") -> None:
    """Prune every conv and linear weight of ``net`` in place with torch's own L1 (magnitude) pruning."""
    if scope == "layer":
        for module, name in _targets(net):
            prune.l1_unstructured(module, name, amount=float(sparsity))
    elif scope == "global":
        prune.global_unstructured(_targets(net), pruning_method=prune.L1Unstructured, amount=float(sparsity))
    else:
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")


def apply_masks(net: nn.Module, masks: dict, arch) -> None:
    """Install given canonical masks (dense ``(in, out)`` transposed to torch's ``(out, in)``) as torch prune masks."""
    from ...spec import Dense

    modules = dict(net.named_children())
    for key, keep in masks.items():
        index = key.split(".")[0]
        mask = torch.as_tensor(keep.T.copy() if isinstance(arch.layers[int(index)], Dense) else keep)
        prune.custom_from_mask(modules[index], "weight", mask=mask.to(torch.float32))


def is_pruned(net: nn.Module) -> bool:
    return any(prune.is_pruned(m) for m in [net]) or any(hasattr(m, "weight_mask") for m in net.modules())


def remove(net: nn.Module) -> None:
    """Make the pruning permanent: fold each mask into its weight, drop ``weight_orig``, the mask and the hook."""
    for module, name in _targets(net):
        if hasattr(module, name + "_mask"):
            prune.remove(module, name)


def state_dict_keys(net: nn.Module) -> list[str]:
    return list(net.state_dict())


def state_dict_bytes(net: nn.Module) -> int:
    """Bytes of ``torch.save(net.state_dict())``: the native file."""
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return len(buf.getvalue())


def sparsity(net: nn.Module) -> dict:
    """Zero fraction of each effective weight (``weight``, whether a parameter or the hook's product)."""
    out, zeros, total = {}, 0, 0
    for n, m in net.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight.detach()
            z = int((w == 0).sum())
            out[n] = z / w.numel()
            zeros, total = zeros + z, total + w.numel()
    return {"layers": out, "overall": zeros / total if total else 0.0}
