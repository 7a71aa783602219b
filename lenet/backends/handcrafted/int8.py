"""int8 inference written by hand in NumPy: per-channel int8 weights, int32 accumulation, integer requantisation.

Post-training static quantization of any :class:`~lenet.spec.Arch` from its
canonical float weights and a few hundred calibration images.  NumPy only;
it shares nothing with the float layers of this package but the layout.

Scheme (the one PyTorch's x86 backend and TFLite use, in its symmetric form)
---------------------------------------------------------------------------
* **Weights**: per output channel, symmetric: ``s_w[o] = max|W[o]| / 127``,
  ``Wq = round(W / s_w)`` in ``[-127, 127]`` (int8).
* **Activations**: per tensor, zero point 0, scale from the calibration
  range (min/max observer).  A tensor that is never negative on the
  calibration set (after relu) is **unsigned**, ``[0, 255]`` with
  ``s = max / 255``; otherwise signed, ``[-127, 127]`` with ``s = max|x| / 127``.
  Quantized tensors live as ``uint8`` / ``int8`` between layers.
* **Conv / dense**: ``acc = Wq @ xq + bq`` in int32, where
  ``bq[o] = round(b[o] / (s_x s_w[o]))``; conv is im2col (one copy from a
  sliding-window view, batch innermost as in :mod:`.layers`) plus ONE GEMM.
* **Requantisation**: ``q = clamp(round(acc * M[o]))`` with
  ``M[o] = s_x s_w[o] / s_out`` applied as a fixed-point multiplier
  ``m0 * 2**-shift`` (``m0`` in ``[2^30, 2^31)``, int64 product, round half
  up): integer arithmetic only.  relu is fused into the clamp (lower bound
  0).  tanh, sigmoid and swish requantise to the calibrated pre-activation
  scale first and then go through a 256-entry lookup table int8 -> int8 (as
  TFLite does for tanh/logistic).
* **Pooling** runs on the integers: max exactly (quantization is monotone;
  padding uses the lowest code), average as an int32 window sum divided with
  rounding (error at most half a step).
* **Logits**: the classifier's accumulator is dequantised,
  ``acc * s_x s_w[o]``, so :meth:`Int8Model.predict` returns float32 logits.

The integer GEMM.  NumPy has no int8 GEMM with int32 accumulation; its
integer ``matmul`` (``gemm="int32"``) is exact but does not use BLAS.  The
default ``gemm="float32-exact"`` feeds the same integers to the float32
BLAS GEMM over blocks of the reduction short enough that no partial sum
can reach 2**24 (``K * 255 * 127 < 2**24``, ``K <= 518``): every
intermediate is an integer that float32 represents exactly, so the result
equals the int32 one bit for bit whatever order BLAS adds in (a test
checks both paths agree).  It is the same trick as computing int8 GEMMs on
float hardware; the MACs are int8 x int8 -> int32 in value, not in silicon.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...io.weights import check_weights
from ...spec import Act, Arch, Conv, Dense, Flatten, Pool, output_size
from .layers import patch_windows

GEMMS = ("float32-exact", "int32")
_EXACT = 2**24  # float32 represents every integer below this exactly


def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5


_FLOAT_ACTS = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0), "sigmoid": _sigmoid,
               "swish": lambda x: x * _sigmoid(x)}


# --------------------------------------------------------------------------- shared float/int helpers


def _conv_cols(x: np.ndarray, k: int, stride: int, pad: int, pad_value=0) -> tuple[np.ndarray, int, int]:
    """im2col of ``x (C, H, W, N)``: a ``(C*k*k, Ho*Wo*N)`` copy, rows ordered like ``W.reshape(O, -1)``."""
    if pad:
        c, h, w, n = x.shape
        xp = np.full((c, h + 2 * pad, w + 2 * pad, n), pad_value, x.dtype)
        xp[:, pad:pad + h, pad:pad + w] = x
        x = xp
    c, hp, wp, n = x.shape
    ho, wo = output_size(hp, k, stride), output_size(wp, k, stride)
    cols = np.ascontiguousarray(patch_windows(x, k, stride, ho, wo))  # (C, k, k, Ho, Wo, N)
    return cols.reshape(c * k * k, ho * wo * n), ho, wo


def _pool_windows(x: np.ndarray, layer: Pool, pad_value) -> list[np.ndarray]:
    p, k, s = layer.padding, layer.size, layer.step
    if p:
        c, h, w, n = x.shape
        xp = np.full((c, h + 2 * p, w + 2 * p, n), pad_value, x.dtype)
        xp[:, p:p + h, p:p + w] = x
        x = xp
    ho, wo = output_size(x.shape[1], k, s), output_size(x.shape[2], k, s)
    return [x[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s] for i in range(k) for j in range(k)]


def float_forward(arch: Arch, weights: dict, x_nchw: np.ndarray, record: dict | None = None) -> np.ndarray:
    """Float32 reference forward pass (NCHW in, logits out); with ``record``, keep every layer's output.

    ``record[i]`` is layer ``i``'s output, batch innermost.  Used for
    calibration; matches the backends' logits to float32 rounding.
    """
    w = check_weights(arch, weights)
    x = np.ascontiguousarray(np.asarray(x_nchw, np.float32).transpose(1, 2, 3, 0))
    for i, layer in enumerate(arch.layers):
        if isinstance(layer, Conv):
            cols, ho, wo = _conv_cols(x, layer.kernel, layer.stride, layer.padding)
            wt = w[f"{i}.weight"].reshape(layer.out_channels, -1)
            x = (wt @ cols + w[f"{i}.bias"][:, None]).reshape(layer.out_channels, ho, wo, -1)
        elif isinstance(layer, Dense):
            x = w[f"{i}.weight"].T @ x + w[f"{i}.bias"][:, None]
        elif isinstance(layer, Act):
            x = _FLOAT_ACTS[layer.fn](x).astype(np.float32)
        elif isinstance(layer, Pool):
            win = _pool_windows(x, layer, -np.inf if layer.op == "max" else 0.0)
            x = np.maximum.reduce(win) if layer.op == "max" else sum(win) / len(win)
        elif isinstance(layer, Flatten):
            x = x.reshape(-1, x.shape[-1])
        if record is not None:
            record[i] = x
    return np.ascontiguousarray(x.T)


# --------------------------------------------------------------------------- quantization parameters


@dataclass(frozen=True)
class QTensor:
    """How a tensor is quantized: ``real = scale * q``, q in ``[lo, hi]`` (zero point 0)."""

    scale: float
    unsigned: bool

    @property
    def lo(self) -> int:
        return 0 if self.unsigned else -127

    @property
    def hi(self) -> int:
        return 255 if self.unsigned else 127

    @property
    def dtype(self):
        return np.uint8 if self.unsigned else np.int8

    @classmethod
    def observe(cls, lo: float, hi: float) -> QTensor:
        """Min/max observer: unsigned when the range never goes below 0."""
        if lo >= 0:
            return cls(max(hi, 1e-8) / 255.0, True)
        return cls(max(abs(lo), abs(hi), 1e-8) / 127.0, False)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(x / self.scale), self.lo, self.hi).astype(self.dtype)


def fixed_point(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive multipliers ``m`` as ``(m0, shift)`` with ``m ~ m0 * 2**-shift``, ``m0`` in ``[2^30, 2^31)``."""
    mant, exp = np.frexp(np.asarray(m, np.float64))  # m = mant * 2**exp, mant in [0.5, 1)
    m0 = np.rint(mant * 2**31).astype(np.int64)
    shift = (31 - exp).astype(np.int64)
    carry = m0 == 2**31  # mant rounded up to 1.0
    m0[carry] //= 2
    shift[carry] -= 1
    if np.any(shift < 1) or np.any(shift > 62):
        raise ValueError(f"requantisation multiplier out of range: {m}")
    return m0, shift


def requantize(acc: np.ndarray, m0: np.ndarray, shift: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``clamp(round_half_up(acc * m0 * 2**-shift), lo, hi)`` per row (output channel), in int64."""
    m0c, sc = m0.reshape(-1, *([1] * (acc.ndim - 1))), shift.reshape(-1, *([1] * (acc.ndim - 1)))
    prod = acc.astype(np.int64) * m0c
    prod += np.left_shift(np.int64(1), sc - 1)
    np.right_shift(prod, sc, out=prod)
    np.clip(prod, lo, hi, out=prod)
    return prod


@dataclass
class QLayer:
    """One conv or dense layer in int8, with what follows it up to the next quantization point."""

    index: int
    layer: object  # Conv or Dense
    wq: np.ndarray  # int8 (O, K)
    w_scale: np.ndarray  # float32 (O,)
    bq: np.ndarray  # int32 (O,)
    x_q: QTensor  # input quantization
    out_q: QTensor | None  # output quantization (None: the classifier, dequantised)
    act: str | None = None  # activation applied in the requantisation (relu) or via the LUT
    pre_q: QTensor | None = None  # pre-activation quantization (LUT activations)
    lut: np.ndarray | None = None  # int16 (256,) indexed by q_pre + 128
    m0: np.ndarray = field(default=None)
    shift: np.ndarray = field(default=None)


def _lut(fn: str, pre: QTensor, out: QTensor) -> np.ndarray:
    codes = np.arange(-128, 128, dtype=np.float64)
    y = _FLOAT_ACTS[fn](codes * pre.scale)
    return np.clip(np.rint(y / out.scale), out.lo, out.hi).astype(np.int16)


# --------------------------------------------------------------------------- the model


class Int8Model:
    """An Arch compiled to int8 from float ``weights`` and calibration images ``calib`` (NCHW float32).

    ``predict(x)`` returns float32 logits.  See the module docstring for the scheme.
    """

    def __init__(self, arch: Arch, weights: dict | None = None, calib: np.ndarray | None = None,
                 gemm: str = "float32-exact", _state: dict | None = None):
        if gemm not in GEMMS:
            raise ValueError(f"gemm must be one of {GEMMS}, got {gemm!r}")
        self.arch, self.gemm = arch, gemm
        if _state is not None:
            self._from_state(_state)
            return
        if weights is None or calib is None or len(calib) == 0:
            raise ValueError("Int8Model needs float weights and at least one calibration image")
        self._calibrate(check_weights(arch, weights), np.asarray(calib, np.float32))

    # -- building -------------------------------------------------------------
    def _calibrate(self, w: dict, calib: np.ndarray) -> None:
        arch = self.arch
        rec: dict = {}
        float_forward(arch, w, calib, rec)
        rng = lambda a: (float(a.min()), float(a.max()))  # noqa: E731
        self.input_q = QTensor.observe(*rng(calib))
        params = arch.param_layers()
        self.qlayers: list[QLayer] = []
        x_q = self.input_q
        for pos, i in enumerate(params):
            layer = arch.layers[i]
            wt = w[f"{i}.weight"].reshape(layer.out_channels, -1) if isinstance(layer, Conv) else w[f"{i}.weight"].T
            w_scale = np.maximum(np.abs(wt).max(axis=1), 1e-12) / 127.0
            wq = np.clip(np.rint(wt / w_scale[:, None]), -127, 127).astype(np.int8)
            bq = np.rint(w[f"{i}.bias"].astype(np.float64) / (x_q.scale * w_scale)).astype(np.int32)
            last = pos == len(params) - 1
            nxt = params[pos + 1] if not last else len(arch.layers)
            act = next((arch.layers[t].fn for t in range(i + 1, nxt) if isinstance(arch.layers[t], Act)), None)
            ql = QLayer(i, layer, wq, w_scale.astype(np.float32), bq, x_q, None, act)
            if not last:
                act_at = next((t for t in range(i + 1, nxt) if isinstance(arch.layers[t], Act)), None)
                post = rec[act_at] if act_at is not None else rec[i]
                ql.out_q = QTensor.observe(*rng(post))
                if act == "relu":
                    ql.out_q = QTensor(ql.out_q.scale, True)
                if act in ("tanh", "sigmoid", "swish"):
                    ql.pre_q = QTensor.observe(*rng(rec[i]))
                    ql.pre_q = QTensor(ql.pre_q.scale, False)  # LUT input: signed codes
                    ql.lut = _lut(act, ql.pre_q, ql.out_q)
                target = ql.pre_q if ql.pre_q is not None else ql.out_q
                ql.m0, ql.shift = fixed_point(x_q.scale * ql.w_scale.astype(np.float64) / target.scale)
                x_q = ql.out_q
            self.qlayers.append(ql)
        self._check_pools()

    def _check_pools(self) -> None:
        for layer in self.arch.layers:
            if isinstance(layer, Pool) and layer.op not in ("max", "avg"):
                raise ValueError(f"unsupported pooling {layer.op!r}")

    # -- integer kernels --------------------------------------------------------
    def _gemm(self, wq: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``wq (O, K) int8 @ cols (K, P) uint8/int8`` -> int32, exactly."""
        if self.gemm == "int32":
            return np.matmul(wq.astype(np.int32), cols.astype(np.int32))
        k = wq.shape[1]
        block = max(1, (_EXACT - 1) // (255 * 127))  # 518: no partial sum can reach 2**24
        wf = wq.astype(np.float32)
        cf = cols.astype(np.float32)
        if k <= block:
            return (wf @ cf).astype(np.int32)
        acc = np.zeros((wq.shape[0], cols.shape[1]), np.int32)
        for s in range(0, k, block):
            acc += (wf[:, s:s + block] @ cf[s:s + block]).astype(np.int32)
        return acc

    def _run_param(self, ql: QLayer, x: np.ndarray) -> np.ndarray:
        layer = ql.layer
        if isinstance(layer, Conv):
            cols, ho, wo = _conv_cols(x, layer.kernel, layer.stride, layer.padding, pad_value=0)
            acc = self._gemm(ql.wq, cols)
        else:
            acc = self._gemm(ql.wq, x)
        acc += ql.bq[:, None]
        if ql.out_q is None:  # classifier: dequantise to float logits
            return acc.astype(np.float32) * (ql.x_q.scale * ql.w_scale)[:, None]
        if ql.lut is not None:
            q = requantize(acc, ql.m0, ql.shift, -128, 127)
            out = ql.lut[q + 128].astype(ql.out_q.dtype)
        else:
            lo = 0 if ql.act == "relu" else ql.out_q.lo
            out = requantize(acc, ql.m0, ql.shift, lo, ql.out_q.hi).astype(ql.out_q.dtype)
        if isinstance(layer, Conv):
            out = out.reshape(layer.out_channels, ho, wo, -1)
        return out

    def forward_q(self, xq: np.ndarray) -> np.ndarray:
        """Quantized input ``(C, H, W, N)`` -> float32 logits ``(K, N)``; integer arithmetic up to the logits."""
        x, qi = xq, 0
        for layer in self.arch.layers:
            if isinstance(layer, (Conv, Dense)):
                x = self._run_param(self.qlayers[qi], x)
                qi += 1
            elif isinstance(layer, Pool):
                low = np.iinfo(x.dtype).min
                win = _pool_windows(x, layer, low if layer.op == "max" else 0)
                if layer.op == "max":
                    x = np.maximum.reduce(win)
                else:
                    n = len(win)
                    total = np.add.reduce([wnd.astype(np.int32) for wnd in win])
                    # the mean rounded half away from zero, in integers
                    x = (np.sign(total) * ((2 * np.abs(total) + n) // (2 * n))).astype(x.dtype)
            elif isinstance(layer, Flatten):
                x = x.reshape(-1, x.shape[-1])
            # Act: already applied in the requantisation (relu clamp or LUT)
        return x

    def quantize_input(self, x_nchw: np.ndarray) -> np.ndarray:
        """NCHW float32 -> quantized ``(C, H, W, N)`` input codes."""
        return self.input_q.quantize(np.asarray(x_nchw, np.float32).transpose(1, 2, 3, 0))

    def predict(self, x_nchw: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float32 logits ``(n, classes)`` for float32 NCHW input."""
        x_nchw = np.asarray(x_nchw, np.float32)
        if x_nchw.ndim != 4 or tuple(x_nchw.shape[1:]) != self.arch.input_shape:
            raise ValueError(f"{self.arch.name} expects (N, {', '.join(map(str, self.arch.input_shape))}), "
                             f"got {x_nchw.shape}")
        out = np.empty((len(x_nchw), self.arch.num_classes), np.float32)
        for s in range(0, len(x_nchw), batch_size):
            out[s:s + batch_size] = self.forward_q(self.quantize_input(x_nchw[s:s + batch_size])).T
        return out

    def make_forward(self, x_nchw: np.ndarray):
        """Zero-argument callable: quantize ``x`` and run the int8 network (the whole float-in, logits-out job)."""
        x = np.ascontiguousarray(x_nchw, np.float32)
        return lambda: self.predict(x, batch_size=max(len(x), 1))

    # -- sizes and files --------------------------------------------------------
    def param_bytes(self) -> int:
        """Bytes the inference needs for parameters: int8 weights, int32 biases, fixed-point multipliers, LUTs."""
        n = 0
        for ql in self.qlayers:
            n += ql.wq.nbytes + ql.bq.nbytes + ql.w_scale.nbytes
            if ql.m0 is not None:
                n += ql.m0.size * 4 + ql.shift.size  # int32 multiplier, int8 shift
            if ql.lut is not None:
                n += 256
        return n

    def state(self) -> dict[str, np.ndarray]:
        arrays = {}
        meta = {"arch": self.arch.to_dict(), "input_q": [self.input_q.scale, self.input_q.unsigned], "layers": []}
        for ql in self.qlayers:
            p = f"{ql.index}."
            arrays[p + "wq"], arrays[p + "w_scale"], arrays[p + "bq"] = ql.wq, ql.w_scale, ql.bq
            if ql.m0 is not None:
                arrays[p + "m0"], arrays[p + "shift"] = ql.m0.astype(np.int32), ql.shift.astype(np.int8)
            if ql.lut is not None:
                arrays[p + "lut"] = ql.lut.astype(np.int8 if not ql.out_q.unsigned else np.uint8)
            q = lambda t: None if t is None else [t.scale, t.unsigned]  # noqa: E731
            meta["layers"].append({"index": ql.index, "act": ql.act, "x_q": q(ql.x_q), "out_q": q(ql.out_q),
                                   "pre_q": q(ql.pre_q)})
        arrays["__meta__"] = np.array(json.dumps(meta, sort_keys=True))
        return arrays

    def save(self, path: str | os.PathLike) -> Path:
        from ...io.atomic import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **self.state())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, gemm: str = "float32-exact") -> Int8Model:
        with np.load(Path(path), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("__meta__")))
        return cls(Arch.from_dict(meta["arch"]), gemm=gemm, _state={"meta": meta, "arrays": arrays})

    def _from_state(self, state: dict) -> None:
        meta, arrays = state["meta"], state["arrays"]
        q = lambda v: None if v is None else QTensor(float(v[0]), bool(v[1]))  # noqa: E731
        self.input_q = q(meta["input_q"])
        self.qlayers = []
        for lm in meta["layers"]:
            i = lm["index"]
            p = f"{i}."
            ql = QLayer(i, self.arch.layers[i], arrays[p + "wq"], arrays[p + "w_scale"], arrays[p + "bq"],
                        q(lm["x_q"]), q(lm["out_q"]), lm["act"], q(lm["pre_q"]))
            if p + "m0" in arrays:
                ql.m0, ql.shift = arrays[p + "m0"].astype(np.int64), arrays[p + "shift"].astype(np.int64)
            if p + "lut" in arrays:
                ql.lut = arrays[p + "lut"].astype(np.int16)
            self.qlayers.append(ql)


def quantize(arch: Arch, weights: dict, calib: np.ndarray, gemm: str = "float32-exact") -> Int8Model:
    """:class:`Int8Model` of ``arch`` from float ``weights``, calibrated on ``calib`` (NCHW float32)."""
    return Int8Model(arch, weights, calib, gemm=gemm)
