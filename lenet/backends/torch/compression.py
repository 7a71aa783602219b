"""The torch backend's native compression hooks: ``torch.nn.utils.prune`` with its hooks live (:mod:`.prune`),
and PyTorch's static (FX) and dynamic int8 (:mod:`.quant`), as :class:`lenet.backends.Artifact`\\ s."""
from __future__ import annotations

import copy

from ...measure.timing import batch_of, latency_ms
from .. import Artifact, Model
from . import prune, quant


def _dense_int8_bytes(arch, weights: dict) -> int:
    """int8 dense weights and float32 scale + bias per output, float32 everything else (dynamic quantization)."""
    n = 0
    for k, w in weights.items():
        dense = arch.layers[int(k.split(".")[0])].kind == "dense"
        n += (w.size if k.endswith(".weight") else 8 * w.size) if dense else 4 * w.size
    return n


def _masked(level: str, model: Model, context, backend) -> Artifact:
    scope, pct = level.split("-")
    net = model.net
    dense_bytes = prune.state_dict_bytes(net)
    prune.apply(net, int(pct) / 100, scope)
    context.fine_tune(model)  # the mask hook zeroes the gradients
    masked_bytes = prune.state_dict_bytes(net)
    keys = [k for k in net.state_dict() if k.endswith(("_orig", "_mask"))]
    sp = prune.sparsity(net)
    plain = Model(model.arch, copy.deepcopy(net), model.backend, model.device)
    prune.remove(plain.net)
    weights = backend.get_weights(plain)
    path = context.save_weights(model.arch, weights, f"masked-{level}")
    x256 = batch_of(context.data.x_test, 256)
    extra = {"pruning_api": "torch.nn.utils.prune (hooks live)", "sparsity_overall": sp["overall"],
             "sparsity_layers": sp["layers"], "torch_state_dict_bytes_dense": dense_bytes,
             "torch_state_dict_bytes_masked": masked_bytes,
             "torch_state_dict_bytes_after_remove": prune.state_dict_bytes(plain.net),
             "torch_masked_state_keys": len(keys),
             "latency_b256_ms_after_remove": latency_ms(backend.make_forward(plain, x256), context.budget)}
    return Artifact(lambda x: backend.predict(model, x), lambda x: backend.make_forward(model, x), path,
                    {"kind": "torch-prune-hooks", "file": path}, extra, weights=weights)


def compress(technique: str, level: str, model: Model, context) -> Artifact:
    """``prune-masked`` (torch's own pruning), ``int8-static`` (FX, x86) or ``int8-dynamic`` (``nn.Linear``)."""
    from . import backend

    if technique == "prune-masked":
        return _masked(level, model, context, backend)
    arch, weights = model.arch, backend.get_weights(model)
    if technique not in ("int8-static", "int8-dynamic"):
        raise ValueError(f"the torch backend declares no native {technique!r}")
    kind = technique.split("-")[1]
    float_path = context.save_weights(arch, weights, "float-base")
    qnet = quant.static_int8(model.net, context.calib) if kind == "static" else quant.dynamic_int8(model.net)
    path = context.workdir / f"{technique}.pt"
    quant.save(qnet, path)
    probe = {"kind": f"torch-{technique}", "file": path, "aux": float_path}
    if kind == "static":
        extra = {"runtime": "torch.ao FX, x86 (fbgemm/onednn) engine", "mac_dtype": "int8",
                 "int8_macs": quant.int8_macs(arch, "static"), "calibration_images": len(context.calib)}
        return Artifact(lambda x: quant.predict(qnet, x), lambda x: quant.make_forward(qnet, x), path, probe, extra)
    extra = {"runtime": "torch.ao quantize_dynamic (nn.Linear)", "mac_dtype": "int8 dense, float32 conv",
             "int8_macs": quant.int8_macs(arch, "dynamic")}
    # dynamic: only the dense layers are int8; convs stay float32
    return Artifact(lambda x: quant.predict(qnet, x), lambda x: quant.make_forward(qnet, x), path, probe, extra,
                    dense_bytes=_dense_int8_bytes(arch, weights))


def load_artifact(kind: str, file: str, aux: str | None):
    """(arch, make_forward) of a saved torch artifact, for the fresh-process memory probe."""
    from ...compress import pruning
    from . import backend

    if kind == "torch-prune-hooks":
        model = backend.load(file)
        prune.apply_masks(model.net, pruning.masks_from_zeros(backend.get_weights(model)), model.arch)
        return model.arch, lambda x: backend.make_forward(model, x)
    if kind in ("torch-int8-static", "torch-int8-dynamic"):
        model = backend.load(aux)
        qnet = quant.load(kind.rsplit("-", 1)[1], model.net, file, model.arch.input_shape)
        return model.arch, lambda x: quant.make_forward(qnet, x)
    raise ValueError(f"unknown compressed artifact kind {kind!r} for the torch backend")
