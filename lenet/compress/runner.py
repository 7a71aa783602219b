"""The compression study: every (technique, level) applied to a backend's trained model, and its record.

:class:`Runner` takes a trained base model of one backend and produces a
:class:`Compressed` per case, then :meth:`Runner.record` measures it against
the base with exactly the fields the report renders
(:data:`FIELDS`, and the base's as ``base_<field>``).  Framework code is
imported only for the case that needs it.

Techniques and levels
---------------------
``prune-masked``      ``layer-50|75|90``, ``global-50|75|90``: magnitude masks, fine-tuned with the mask held.
                      Dense storage, every multiply executed.  On torch: ``torch.nn.utils.prune``
                      itself, measured with its hooks live.
``prune-sparse``      the same pruned weights stored as CSR (:mod:`.sparse`); executed dense after loading.
``prune-structured``  ``25|50|75`` percent of filters/neurons removed by L1 norm: a smaller Arch, fine-tuned.
``lowrank``           ``r32|r16|r8``: SVD of the hidden dense layers; ``r8+conv``: conv2 channel SVD too.
``int8-static``       ``ptq``: torch FX x86 / TFLite full-integer / handcrafted NumPy int8, per backend.
``int8-dynamic``      ``dense``: torch dynamic quantization of the linear layers (torch only).
"""
from __future__ import annotations

import copy
import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backends import Model
from ..counting import count
from ..io import weights as wio
from ..metrics import topk_correct
from ..training import TrainConfig
from . import lowrank, pruning, sparse, structured
from .finetune import fine_tune, finetune_config
from .measure import backend_forward, batch_of, int8_dense_bytes, latency_ms, macs, peak_rss

FIELDS = ("technique", "level", "backend", "top1", "top5", "nonzero_params", "dense_bytes", "file_bytes",
          "gzip_bytes", "executed_macs", "latency_b1_ms", "latency_b256_ms", "peak_rss_mib")
MEASURED = FIELDS[3:]

PRUNE_LEVELS = ("layer-50", "layer-75", "layer-90", "global-50", "global-75", "global-90")
STRUCT_LEVELS = ("25", "50", "75")
RANK_LEVELS = ("r32", "r16", "r8", "r8+conv")


@dataclass(frozen=True)
class Case:
    technique: str
    level: str
    backends: tuple = ("handcrafted", "torch", "keras")

    @property
    def id(self) -> str:
        return f"{self.technique}-{self.level}"


def _cases(prune, struct, ranks) -> tuple:
    return (*(Case("prune-masked", lv) for lv in prune), *(Case("prune-sparse", lv) for lv in prune),
            *(Case("prune-structured", lv) for lv in struct), *(Case("lowrank", lv) for lv in ranks),
            Case("int8-static", "ptq"), Case("int8-dynamic", "dense", ("torch",)))


# keyed by the study profile (lenet.study.profiles.PROFILES): quick runs one level of each technique
PLANS = {
    "quick": _cases(("global-75",), ("50",), ("r16",)),
    "full": _cases(PRUNE_LEVELS, STRUCT_LEVELS, RANK_LEVELS),
}
FINETUNE_EPOCHS = {"quick": 2, "full": 3}


def cases(plan: str, backends=None) -> list[tuple[str, Case]]:
    """``(backend, case)`` pairs of a plan, for the given backends (default: all)."""
    if plan not in PLANS:
        raise ValueError(f"unknown compression plan {plan!r}; choose one of {sorted(PLANS)}")
    return [(b, c) for c in PLANS[plan] for b in c.backends if backends is None or b in backends]


@dataclass
class Compressed:
    """A compressed model ready to measure."""

    technique: str
    level: str
    backend: str
    arch: object
    predict: Callable[[np.ndarray], np.ndarray]
    make_forward: Callable[[np.ndarray], Callable]
    file: Path
    nonzero_params: int
    dense_bytes: int
    executed_macs: int
    probe: dict  # kwargs of measure.peak_rss
    extra: dict = field(default_factory=dict)


def _accuracy(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    n = max(len(y), 1)
    return topk_correct(logits, y, 1) / n, topk_correct(logits, y, 5) / n


def _sizes(path: Path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    return len(data), len(gzip.compress(data, compresslevel=9))


class Runner:
    """Compress one backend's trained model case by case, caching what later cases reuse."""

    def __init__(self, backend_name: str, backend, base: Model, data, config: TrainConfig, workdir: Path,
                 finetune_epochs: int = 2, calib_images: int = 512, threads: int | None = None,
                 latency_budget_s: float = 0.3, probe_memory: bool = True):
        self.name, self.backend, self.base, self.data = backend_name, backend, base, data
        self.config = finetune_config(config, finetune_epochs)
        self.workdir = Path(workdir) / backend_name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.calib = np.ascontiguousarray(data.x_train[:calib_images])
        self.threads, self.budget, self.probe_memory = threads, latency_budget_s, probe_memory
        self.base_weights = backend.get_weights(base)
        self._pruned: dict[str, dict] = {}
        self._base_record = None

    # -- helpers ---------------------------------------------------------------
    def _model(self, arch, weights) -> Model:
        m = self.backend.build(arch, seed=self.config.seed, device=self.base.device)
        self.backend.set_weights(m, weights)
        return m

    def _save(self, arch, weights, stem: str) -> Path:
        return wio.save(self.workdir / f"{stem}.npz", arch, weights)

    def _dense(self, technique, level, model: Model, stem: str, executed=None, extra=None) -> Compressed:
        w = self.backend.get_weights(model)
        path = self._save(model.arch, w, stem)
        c = count(model.arch)
        return Compressed(technique, level, self.name, model.arch,
                          lambda x: self.backend.predict(model, x),
                          lambda x: backend_forward(self.backend, model, x),
                          path, pruning.nonzero_params(w), c.param_bytes,
                          c.macs if executed is None else executed,
                          {"kind": "npz", "file": path, "backend": self.name}, dict(extra or {}))

    # -- techniques --------------------------------------------------------------
    def compress(self, case: Case) -> Compressed:
        t, lv = case.technique, case.level
        if t == "prune-masked":
            return self._masked(lv)
        if t == "prune-sparse":
            return self._sparse(lv)
        if t == "prune-structured":
            return self._structured(lv)
        if t == "lowrank":
            return self._lowrank(lv)
        if t == "int8-static":
            return self._int8_static()
        if t == "int8-dynamic":
            return self._int8_dynamic()
        raise ValueError(f"unknown technique {t!r}")

    def _prune_level(self, level: str) -> tuple[str, float]:
        scope, pct = level.split("-")
        return scope, int(pct) / 100

    def _masked(self, level: str) -> Compressed:
        scope, s = self._prune_level(level)
        arch = self.base.arch
        model = self._model(arch, self.base_weights)
        extra = {"scope": scope, "sparsity_requested": s, "finetune_epochs": self.config.epochs}
        if self.name == "torch":
            return self._masked_torch(model, scope, s, level, extra)
        masks = pruning.magnitude_masks(self.base_weights, s, scope, pruning.prunable_keys(arch))
        fine_tune(self.backend, model, self.data, self.config, masks=masks)
        w = self.backend.get_weights(model)
        assert pruning.masks_hold(w, masks), "fine-tuning lost the sparsity"
        self._pruned[level] = w
        sp = pruning.sparsity_of(w, list(masks))
        extra.update(sparsity_overall=sp["overall"], sparsity_layers=sp["layers"], pruning_api="canonical masks")
        return self._dense("prune-masked", level, model, f"masked-{level}", extra=extra)

    def _masked_torch(self, model: Model, scope: str, s: float, level: str, extra: dict) -> Compressed:
        from . import torch_prune

        net = model.net
        dense_bytes = torch_prune.state_dict_bytes(net)
        torch_prune.apply(net, s, scope)
        fine_tune(self.backend, model, self.data, self.config)  # the mask hook zeroes the gradients
        masked_bytes = torch_prune.state_dict_bytes(net)
        keys = [k for k in net.state_dict() if k.endswith(("_orig", "_mask"))]
        sp = torch_prune.sparsity(net)
        plain = Model(model.arch, copy.deepcopy(net), model.backend, model.device)
        torch_prune.remove(plain.net)
        w = self.backend.get_weights(plain)
        self._pruned[level] = w
        path = self._save(model.arch, w, f"masked-{level}")
        x256 = batch_of(self.data.x_test, 256)
        extra.update(pruning_api="torch.nn.utils.prune (hooks live)", sparsity_overall=sp["overall"],
                     sparsity_layers=sp["layers"], torch_state_dict_bytes_dense=dense_bytes,
                     torch_state_dict_bytes_masked=masked_bytes,
                     torch_state_dict_bytes_after_remove=torch_prune.state_dict_bytes(plain.net),
                     torch_masked_state_keys=len(keys),
                     latency_b256_ms_after_remove=latency_ms(self.backend.make_forward(plain, x256), self.budget))
        c = count(model.arch)
        return Compressed("prune-masked", level, self.name, model.arch, lambda x: self.backend.predict(model, x),
                          lambda x: self.backend.make_forward(model, x), path, pruning.nonzero_params(w),
                          c.param_bytes, c.macs, {"kind": "torch-prune-hooks", "file": path}, extra)

    def _sparse(self, level: str) -> Compressed:
        if level not in self._pruned:
            self._masked(level)
        w = self._pruned[level]
        arch = self.base.arch
        path = sparse.save(self.workdir / f"sparse-{level}.npz", arch, w)
        _, back = sparse.load(path)
        assert all(np.array_equal(back[k], w[k]) for k in w), "sparse round trip is not exact"
        model = self._model(arch, back)
        c = count(arch)
        return Compressed("prune-sparse", level, self.name, arch, lambda x: self.backend.predict(model, x),
                          lambda x: backend_forward(self.backend, model, x), path, pruning.nonzero_params(w),
                          c.param_bytes, c.macs, {"kind": "csr", "file": path, "backend": self.name},
                          {"stored_values": sparse.stored_values(arch, w), "storage": "CSR (float32 values, "
                           "uint8/16 indices), executed dense"})

    def _structured(self, level: str) -> Compressed:
        frac = int(level) / 100
        arch, w, kept = structured.structured_prune(self.base.arch, self.base_weights, frac)
        model = self._model(arch, w)
        fine_tune(self.backend, model, self.data, self.config)
        widths = [getattr(layer, "out_channels", getattr(layer, "units", None)) for layer in
                  (arch.layers[i] for i in arch.param_layers())]
        return self._dense("prune-structured", level, model, f"struct-{level}",
                           extra={"widths": widths, "finetune_epochs": self.config.epochs})

    def _lowrank(self, level: str) -> Compressed:
        conv = level.endswith("+conv")
        rank = int(level.split("+")[0].lstrip("r"))
        ranks = lowrank.plan(self.base.arch, rank, conv=conv)  # only layers where the rank saves MACs
        arch, w = lowrank.factorize(self.base.arch, self.base_weights, ranks)
        model = self._model(arch, w)
        fine_tune(self.backend, model, self.data, self.config)
        return self._dense("lowrank", level, model, f"lowrank-{level}",
                           extra={"ranks": {str(k): v for k, v in ranks.items()},
                                  "finetune_epochs": self.config.epochs})

    def _int8_nonzero(self) -> int:
        """Non-zero int8 codes plus biases under per-channel symmetric rounding (the scheme all three use)."""
        n = 0
        for k, w in self.base_weights.items():
            if k.endswith(".weight"):
                m = w.reshape(w.shape[0], -1) if w.ndim == 4 else w.T
                scale = np.maximum(np.abs(m).max(axis=1, keepdims=True), 1e-12) / 127
                n += int(np.count_nonzero(np.rint(m / scale)))
            else:
                n += int(np.count_nonzero(w))
        return n

    def _int8_static(self) -> Compressed:
        arch = self.base.arch
        float_path = self._save(arch, self.base_weights, "float-base")
        common = dict(nonzero_params=self._int8_nonzero(), dense_bytes=int8_dense_bytes(arch),
                      executed_macs=macs(arch))
        if self.name == "torch":
            from . import torch_quant

            qnet = torch_quant.static_int8(self.base.net, self.calib)
            path = self.workdir / "int8-static.pt"
            torch_quant.save(qnet, path)
            return Compressed("int8-static", "ptq", self.name, arch, lambda x: torch_quant.predict(qnet, x),
                              lambda x: torch_quant.make_forward(qnet, x), path, **common,
                              probe={"kind": "torch-int8-static", "file": path, "aux": float_path},
                              extra={"runtime": "torch.ao FX, x86 (fbgemm/onednn) engine", "mac_dtype": "int8",
                                     "int8_macs": torch_quant.int8_macs(arch, "static"),
                                     "calibration_images": len(self.calib)})
        if self.name == "keras":
            from . import tflite

            content = tflite.convert_int8(self.base.net, arch.input_shape, self.calib)
            path = self.workdir / "int8-static.tflite"
            path.write_bytes(content)
            tm = tflite.TFLiteModel(content, arch.input_shape, self.threads)
            return Compressed("int8-static", "ptq", self.name, arch, tm.predict, tm.make_forward, path, **common,
                              probe={"kind": "tflite", "file": path, "aux": float_path},
                              extra={"runtime": f"TFLite full-integer ({tm.runtime} interpreter)",
                                     "mac_dtype": "int8", "int8_macs": macs(arch),
                                     "calibration_images": len(self.calib)})
        from ..backends.handcrafted import int8

        q = int8.quantize(arch, self.base_weights, self.calib)
        path = q.save(self.workdir / "int8-static.npz")
        return Compressed("int8-static", "ptq", self.name, arch, q.predict, q.make_forward, path, **common,
                          probe={"kind": "handcrafted-int8", "file": path},
                          extra={"runtime": "handcrafted NumPy int8 (int32 accumulation, fixed-point requant)",
                                 "mac_dtype": "int8", "int8_macs": macs(arch), "calibration_images": len(self.calib),
                                 "int8_param_bytes": q.param_bytes()})

    def _int8_dynamic(self) -> Compressed:
        if self.name != "torch":
            raise ValueError("int8-dynamic is PyTorch's quantize_dynamic: torch backend only")
        from . import torch_quant

        arch = self.base.arch
        float_path = self._save(arch, self.base_weights, "float-base")
        qnet = torch_quant.dynamic_int8(self.base.net)
        path = self.workdir / "int8-dynamic.pt"
        torch_quant.save(qnet, path)
        dense_macs = torch_quant.int8_macs(arch, "dynamic")
        # dynamic: only the dense layers are int8; convs stay float32
        dense_bytes = sum(4 * w.size for k, w in self.base_weights.items()
                          if not self._is_dense_layer(k)) + self._dense_int8_bytes()
        return Compressed("int8-dynamic", "dense", self.name, arch, lambda x: torch_quant.predict(qnet, x),
                          lambda x: torch_quant.make_forward(qnet, x), path, pruning.nonzero_params(self.base_weights),
                          dense_bytes, macs(arch), {"kind": "torch-int8-dynamic", "file": path, "aux": float_path},
                          {"runtime": "torch.ao quantize_dynamic (nn.Linear)", "mac_dtype": "int8 dense, float32 conv",
                           "int8_macs": dense_macs})

    def _is_dense_layer(self, key: str) -> bool:
        from ..spec import Dense

        return isinstance(self.base.arch.layers[int(key.split(".")[0])], Dense)

    def _dense_int8_bytes(self) -> int:
        n = 0
        for k, w in self.base_weights.items():
            if self._is_dense_layer(k):
                n += w.size if k.endswith(".weight") else 8 * w.size
        return n

    # -- the record --------------------------------------------------------------
    def _measure(self, predict, make_forward, path: Path, probe: dict, batches=(1, 256)) -> dict:
        top1, top5 = _accuracy(predict(self.data.x_test), self.data.y_test)
        file_bytes, gzip_bytes = _sizes(path)
        lat = {f"latency_b{b}_ms": latency_ms(make_forward(batch_of(self.data.x_test, b)), self.budget)
               for b in batches}
        rss = None
        if self.probe_memory:
            rss = peak_rss(batch_size=256, threads=self.threads, **probe)["peak_mib"]
        return {"top1": top1, "top5": top5, "file_bytes": file_bytes, "gzip_bytes": gzip_bytes, **lat,
                "peak_rss_mib": rss}

    def base_record(self) -> dict:
        """The uncompressed model's fields (measured once per runner)."""
        if self._base_record is None:
            arch = self.base.arch
            path = self._save(arch, self.base_weights, "base")
            c = count(arch)
            m = self._measure(lambda x: self.backend.predict(self.base, x),
                              lambda x: backend_forward(self.backend, self.base, x), path,
                              {"kind": "npz", "file": path, "backend": self.name})
            self._base_record = {"nonzero_params": pruning.nonzero_params(self.base_weights),
                                 "dense_bytes": c.param_bytes, "executed_macs": c.macs, **m}
        return self._base_record

    def record(self, comp: Compressed, latency_b1_ms: float | None = None) -> dict:
        """The report's fields for ``comp`` and ``base_<field>`` for the base; ``extra`` beside them."""
        batches = (1, 256) if latency_b1_ms is None else (256,)
        m = self._measure(comp.predict, comp.make_forward, comp.file, comp.probe, batches)
        if latency_b1_ms is not None:
            m["latency_b1_ms"] = latency_b1_ms
        rec = {"technique": comp.technique, "level": comp.level, "backend": comp.backend,
               "nonzero_params": comp.nonzero_params, "dense_bytes": comp.dense_bytes,
               "executed_macs": comp.executed_macs, **m}
        rec = {k: rec[k] for k in FIELDS}
        base = self.base_record()
        rec.update({f"base_{k}": base[k] for k in MEASURED})
        return rec
