"""The compression study: every (technique, level) applied to a backend's trained model, and its record.

:class:`Runner` takes a trained base model of one backend and produces a
:class:`Compressed` per case, then :meth:`Runner.record` measures it against
the base with exactly the fields the report renders
(:data:`FIELDS`, and the base's as ``base_<field>``).  No framework is
imported here: canonical techniques work on canonical weights, and a
technique a backend declares native (``Capabilities.compression``) runs
through that backend's ``compress`` hook, which returns an
:class:`~lenet.backends.Artifact`.  An inference-only backend fine-tunes
through the backend its weights come from (``weights_from``).

Techniques and levels
---------------------
``prune-masked``      ``layer-50|75|90``, ``global-50|75|90``: magnitude masks, fine-tuned with the mask held.
                      Dense storage, every multiply executed.  Native on torch: ``torch.nn.utils.prune``
                      itself, measured with its hooks live.
``prune-sparse``      the same pruned weights stored as CSR (:mod:`.sparse`); executed dense after loading.
``prune-structured``  ``25|50|75`` percent of filters/neurons removed by L1 norm: a smaller Arch, fine-tuned.
``lowrank``           ``r32|r16|r8``: SVD of the hidden dense layers; ``r8+conv``: conv2 channel SVD too.
``int8-static``       ``ptq``: native only (torch FX x86, TFLite full-integer, NumPy int8, ORT quantize_static).
``int8-dynamic``      ``dense``: native only (torch's dynamic quantization of the linear layers).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backends import BACKENDS, Artifact, Model, capabilities, get_backend, trainer_for
from ..counting import count
from ..io import weights as wio
from ..measure.memory import peak_rss_artifact
from ..measure.sizes import int8_dense_bytes, serialized_sizes
from ..measure.timing import batch_of, latency_ms
from ..metrics import topk_correct
from ..training import TrainConfig
from . import lowrank, pruning, sparse, structured
from .finetune import fine_tune, finetune_config

FIELDS = ("technique", "level", "backend", "top1", "top5", "nonzero_params", "dense_bytes", "file_bytes",
          "gzip_bytes", "executed_macs", "latency_b1_ms", "latency_b256_ms", "peak_rss_mib")
MEASURED = FIELDS[3:]

PRUNE_LEVELS = ("layer-50", "layer-75", "layer-90", "global-50", "global-75", "global-90")
STRUCT_LEVELS = ("25", "50", "75")
RANK_LEVELS = ("r32", "r16", "r8", "r8+conv")
CANONICAL = ("prune-masked", "prune-sparse", "prune-structured", "lowrank")  # every backend runs these
NATIVE_ONLY = ("int8-static", "int8-dynamic")  # only backends declaring them


@dataclass(frozen=True)
class Case:
    technique: str
    level: str

    @property
    def id(self) -> str:
        return f"{self.technique}-{self.level}"

    def runs_on(self, backend: str) -> bool:
        """Canonical techniques run on every backend; the int8 ones where the backend declares them."""
        return self.technique in CANONICAL or self.technique in capabilities(backend).compression


def _cases(prune, struct, ranks) -> tuple:
    return (*(Case("prune-masked", lv) for lv in prune), *(Case("prune-sparse", lv) for lv in prune),
            *(Case("prune-structured", lv) for lv in struct), *(Case("lowrank", lv) for lv in ranks),
            Case("int8-static", "ptq"), Case("int8-dynamic", "dense"))


# named by the study profile (lenet.study.profiles.Profile.compression_plan): quick runs one level of each;
# study (the full profile's) the levels that carry the comparisons: global pruning light and heavy, layer
# against global at the heaviest, half the filters, one rank of the dense layers alone and with conv2;
# full every level (the compression profile: 16 minutes on 2 cores against study's 6.5)
PLANS = {
    "quick": _cases(("global-75",), ("50",), ("r16",)),
    "study": _cases(("layer-90", "global-50", "global-90"), ("50",), ("r16", "r8+conv")),
    "full": _cases(PRUNE_LEVELS, STRUCT_LEVELS, RANK_LEVELS),
}
def cases(plan: str, backends=None) -> list[tuple[str, Case]]:
    """``(backend, case)`` pairs of a plan for the given backends (default: all), from their declarations."""
    if plan not in PLANS:
        raise ValueError(f"unknown compression plan {plan!r}; choose one of {sorted(PLANS)}")
    chosen = BACKENDS if backends is None else tuple(backends)
    return [(b, c) for c in PLANS[plan] for b in chosen if c.runs_on(b)]


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
    probe: dict  # kwargs of lenet.measure.memory.peak_rss_artifact
    extra: dict = field(default_factory=dict)


def _accuracy(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    n = max(len(y), 1)
    return topk_correct(logits, y, 1) / n, topk_correct(logits, y, 5) / n


class Runner:
    """Compress one backend's trained model case by case, caching what later cases reuse.

    Backends' ``compress`` hooks get the runner as their context: :attr:`calib`,
    :attr:`workdir`, :attr:`data`, :attr:`threads`, :attr:`budget`,
    :meth:`save_weights` and :meth:`fine_tune`.
    """

    def __init__(self, backend_name: str, backend, base: Model, data, config: TrainConfig, workdir: Path,
                 finetune_epochs: int = 2, calib_images: int = 512, threads: int | None = None,
                 latency_budget_s: float = 0.3, probe_memory: bool = True, finetune_samples: int | None = None):
        self.name, self.backend, self.base, self.data = backend_name, backend, base, data
        # fine-tuning sees the first ``finetune_samples`` training images (all of them when None)
        self.tune_data = data.subset(train=finetune_samples) if finetune_samples else data
        self.tuning = {"finetune_epochs": finetune_epochs, "finetune_samples": len(self.tune_data.y_train)}
        self.caps = capabilities(backend_name)
        tuner = trainer_for(backend_name)
        self.tuner = backend if tuner == backend_name else get_backend(tuner)
        self.config = finetune_config(config, finetune_epochs)
        self.workdir = Path(workdir) / backend_name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.calib = np.ascontiguousarray(data.x_train[:calib_images])
        self.threads, self.budget, self.probe_memory = threads, latency_budget_s, probe_memory
        self.base_weights = backend.get_weights(base)
        self._pruned: dict[str, dict] = {}
        self._base_record = None

    # -- the context backends' hooks use ----------------------------------------
    def save_weights(self, arch, weights, stem: str) -> Path:
        return wio.save(self.workdir / f"{stem}.npz", arch, weights)

    def fine_tune(self, model: Model, masks: dict | None = None) -> Model:
        """Fine-tune ``model`` (a model of this runner's backend) with the runner's config; returns it.

        An inference-only backend's model is fine-tuned in the backend its weights come from, and the
        result loaded back into it.
        """
        if self.tuner is self.backend:
            fine_tune(self.backend, model, self.tune_data, self.config, masks=masks)
            return model
        tuned = self._model(model.arch, self.backend.get_weights(model), self.tuner)
        fine_tune(self.tuner, tuned, self.tune_data, self.config, masks=masks)
        self.backend.set_weights(model, self.tuner.get_weights(tuned))
        return model

    # -- helpers ---------------------------------------------------------------
    def _model(self, arch, weights, backend=None) -> Model:
        backend = backend or self.backend
        m = backend.build(arch, seed=self.config.seed, device=self.base.device)
        backend.set_weights(m, weights)
        return m

    def _dense(self, technique, level, model: Model, stem: str, extra=None) -> Compressed:
        w = self.backend.get_weights(model)
        path = self.save_weights(model.arch, w, stem)
        c = count(model.arch)
        return Compressed(technique, level, self.name, model.arch, lambda x: self.backend.predict(model, x),
                          lambda x: self.backend.make_forward(model, x), path, pruning.nonzero_params(w),
                          c.param_bytes, c.macs, {"kind": "npz", "file": path}, dict(extra or {}))

    def _native(self, technique: str, level: str, model: Model, extra: dict | None = None) -> Artifact:
        art = self.backend.compress(technique, level, model, self)
        art.extra = {**(extra or {}), **art.extra}
        return art

    # -- techniques --------------------------------------------------------------
    def compress(self, case: Case) -> Compressed:
        t, lv = case.technique, case.level
        if not case.runs_on(self.name):
            raise ValueError(f"{case.id} is native only and the {self.name} backend does not declare it")
        if t == "prune-masked":
            return self._masked(lv)
        if t == "prune-sparse":
            return self._sparse(lv)
        if t == "prune-structured":
            return self._structured(lv)
        if t == "lowrank":
            return self._lowrank(lv)
        if t in NATIVE_ONLY:
            return self._int8(case)
        raise ValueError(f"unknown technique {t!r}")

    def _prune_level(self, level: str) -> tuple[str, float]:
        scope, pct = level.split("-")
        return scope, int(pct) / 100

    def _masked(self, level: str) -> Compressed:
        scope, s = self._prune_level(level)
        arch = self.base.arch
        model = self._model(arch, self.base_weights)
        extra = {"scope": scope, "sparsity_requested": s, **self.tuning}
        if "prune-masked" in self.caps.compression:
            art = self._native("prune-masked", level, model, extra)
            self._pruned[level] = art.weights
            c = count(arch)
            return Compressed("prune-masked", level, self.name, arch, art.predict, art.make_forward, art.file,
                              pruning.nonzero_params(art.weights), c.param_bytes, c.macs, art.probe, art.extra)
        masks = pruning.magnitude_masks(self.base_weights, s, scope, pruning.prunable_keys(arch))
        self.fine_tune(model, masks=masks)
        w = self.backend.get_weights(model)
        assert pruning.masks_hold(w, masks), "fine-tuning lost the sparsity"
        self._pruned[level] = w
        sp = pruning.sparsity_of(w, list(masks))
        extra.update(sparsity_overall=sp["overall"], sparsity_layers=sp["layers"], pruning_api="canonical masks")
        return self._dense("prune-masked", level, model, f"masked-{level}", extra=extra)

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
                          lambda x: self.backend.make_forward(model, x), path, pruning.nonzero_params(w),
                          c.param_bytes, c.macs, {"kind": "csr", "file": path},
                          {"stored_values": sparse.stored_values(arch, w), "storage": "CSR (float32 values, "
                           "uint8/16 indices), executed dense"})

    def _structured(self, level: str) -> Compressed:
        frac = int(level) / 100
        arch, w, kept = structured.structured_prune(self.base.arch, self.base_weights, frac)
        model = self.fine_tune(self._model(arch, w))
        widths = [getattr(layer, "out_channels", getattr(layer, "units", None)) for layer in
                  (arch.layers[i] for i in arch.param_layers())]
        return self._dense("prune-structured", level, model, f"struct-{level}",
                           extra={"widths": widths, **self.tuning})

    def _lowrank(self, level: str) -> Compressed:
        conv = level.endswith("+conv")
        rank = int(level.split("+")[0].lstrip("r"))
        ranks = lowrank.plan(self.base.arch, rank, conv=conv)  # only layers where the rank saves MACs
        arch, w = lowrank.factorize(self.base.arch, self.base_weights, ranks)
        model = self.fine_tune(self._model(arch, w))
        return self._dense("lowrank", level, model, f"lowrank-{level}",
                           extra={"ranks": {str(k): v for k, v in ranks.items()},
                                  **self.tuning})

    def _int8_nonzero(self) -> int:
        """Non-zero int8 codes plus biases under per-channel symmetric rounding (the scheme all of them use)."""
        n = 0
        for k, w in self.base_weights.items():
            if k.endswith(".weight"):
                m = w.reshape(w.shape[0], -1) if w.ndim == 4 else w.T
                scale = np.maximum(np.abs(m).max(axis=1, keepdims=True), 1e-12) / 127
                n += int(np.count_nonzero(np.rint(m / scale)))
            else:
                n += int(np.count_nonzero(w))
        return n

    def _int8(self, case: Case) -> Compressed:
        """The backend's native int8: static (weights and activations) or dynamic (weights; torch)."""
        arch = self.base.arch
        art = self._native(case.technique, case.level, self.base)
        static = case.technique == "int8-static"
        nonzero = self._int8_nonzero() if static else pruning.nonzero_params(self.base_weights)
        dense_bytes = art.dense_bytes if art.dense_bytes is not None else int8_dense_bytes(arch)
        return Compressed(case.technique, case.level, self.name, arch, art.predict, art.make_forward, art.file,
                          nonzero, dense_bytes, count(arch).macs, art.probe, art.extra)

    # -- the record --------------------------------------------------------------
    def _measure(self, predict, make_forward, path: Path, probe: dict, batches=(1, 256)) -> dict:
        top1, top5 = _accuracy(predict(self.data.x_test), self.data.y_test)
        sizes = serialized_sizes(path)
        lat = {f"latency_b{b}_ms": latency_ms(make_forward(batch_of(self.data.x_test, b)), self.budget)
               for b in batches}
        rss = None
        if self.probe_memory:
            rss = peak_rss_artifact(self.name, batch_size=256, threads=self.threads, **probe)["peak_mib"]
        return {"top1": top1, "top5": top5, **sizes, **lat, "peak_rss_mib": rss}

    def base_forward(self, x: np.ndarray) -> Callable:
        """The uncompressed model's timed forward pass on ``x`` (what each compressed model is paired against)."""
        return self.backend.make_forward(self.base, x)

    def base_record(self) -> dict:
        """The uncompressed model's fields (measured once per runner)."""
        if self._base_record is None:
            arch = self.base.arch
            path = self.save_weights(arch, self.base_weights, "base")
            c = count(arch)
            m = self._measure(lambda x: self.backend.predict(self.base, x), self.base_forward, path,
                              {"kind": "npz", "file": path})
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
