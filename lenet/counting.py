"""Parameters, MACs, FLOPs and activation memory worked out from the spec alone.

Every FLOP figure here carries its convention, because the counters we compare
against disagree on purpose, not by error:

``macs``
    multiply-accumulates of conv and dense layers, bias excluded.  What thop
    and fvcore call "FLOPs".  LeNet-5/10 classes at 32x32: 416,520.
``flops``
    ``2 * macs``: one multiply plus one add.  ``torch.utils.flop_counter``'s
    convention: 833,040.
``flops_tf``
    ``2 * macs + bias adds + pooling window reads + 2 per swish element``:
    what TensorFlow's profiler (``tf.compat.v1.profiler`` float_ops) reports,
    per batch: 845,862 per sample.  It counts no FLOPs for tanh, relu or
    sigmoid, but two for swish (its sigmoid and its multiply are separate ops).
``flops_xla``
    what XLA's cost analysis (``compiled.cost_analysis()["flops"]``) reports,
    per batch: 2 per multiply-accumulate of the conv taps that read the input
    (a tap on padding is not counted, unlike ``macs``) and of the matmuls,
    1 per bias add, ``size**2 - 1`` per max-pool output (comparisons),
    ``size**2`` per average-pool output (adds and the divide), 1 per relu, 3
    per sigmoid and 4 per swish element; tanh and exp are counted apart, as
    transcendentals.  LeNet-5 tanh/max at 32x32: 844,286 per sample.

All counts are per sample; multiply by the batch size for per-batch figures.
"""
from __future__ import annotations

from dataclasses import dataclass

from .spec import Act, Arch, Conv, Dense, Pool

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class LayerCount:
    index: int
    kind: str
    out_shape: tuple
    params: int
    macs: int
    bias_adds: int
    pool_reads: int
    act_elements: int  # elementwise activation evaluations
    swish_elements: int = 0
    flops_xla: int = 0

    @property
    def out_elements(self) -> int:
        n = 1
        for d in self.out_shape:
            n *= d
        return n

    @property
    def out_bytes(self) -> int:
        return self.out_elements * FLOAT32_BYTES


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _input_taps(size: int, kernel: int, stride: int, padding: int, out: int) -> int:
    """Kernel taps along one axis that fall on the input rather than its padding, summed over the outputs."""
    return sum(min(kernel, size + padding - o * stride) - max(0, padding - o * stride) for o in range(out))


# XLA's flops per activation element (tanh is a transcendental: none); see ``flops_xla`` above
_XLA_ACT_FLOPS = {"tanh": 0, "relu": 1, "sigmoid": 3, "swish": 4}


def layer_counts(arch: Arch) -> list[LayerCount]:
    """Per-layer parameters and operation counts for one sample."""
    rows = []
    for i, (layer, in_shape, out_shape) in enumerate(zip(arch.layers, arch.input_shapes(), arch.shapes())):
        params = macs = bias = reads = acts = xla = 0
        if isinstance(layer, Conv):
            per_out = in_shape[0] * layer.kernel * layer.kernel
            params = layer.out_channels * per_out + layer.out_channels
            macs = _prod(out_shape) * per_out
            bias = _prod(out_shape)
            taps = [_input_taps(n, layer.kernel, layer.stride, layer.padding, o)
                    for n, o in zip(in_shape[1:], out_shape[1:])]
            xla = 2 * layer.out_channels * in_shape[0] * taps[0] * taps[1] + bias
        elif isinstance(layer, Dense):
            params = in_shape[0] * layer.units + layer.units
            macs = in_shape[0] * layer.units
            bias = layer.units
            xla = 2 * macs + bias
        elif isinstance(layer, Pool):
            reads = _prod(out_shape) * layer.size * layer.size
            xla = reads - (_prod(out_shape) if layer.op == "max" else 0)
        elif isinstance(layer, Act):
            acts = _prod(out_shape)
            xla = acts * _XLA_ACT_FLOPS[layer.fn]
        swish = acts if isinstance(layer, Act) and layer.fn == "swish" else 0
        rows.append(LayerCount(i, layer.kind, tuple(out_shape), params, macs, bias, reads, acts, swish, xla))
    return rows


@dataclass(frozen=True)
class ArchCount:
    """Whole-network totals, per sample."""

    params: int
    macs: int
    flops: int  # 2 * macs
    flops_tf: int  # 2 * macs + bias adds + pool reads + 2 per swish element
    flops_xla: int  # XLA's cost analysis, see the module docstring
    bias_adds: int
    pool_reads: int
    act_elements: int
    param_bytes: int  # float32
    activation_bytes: int  # float32 outputs of every layer, one sample

    def as_dict(self) -> dict:
        return dict(self.__dict__)


CONVENTIONS = {
    "macs": "multiply-accumulates of conv+dense, no bias (thop, fvcore)",
    "flops": "2 x MACs, no bias (torch.utils.flop_counter)",
    "flops_tf": "2 x MACs + bias adds + pool window reads + 2 per swish element (TF profiler float_ops)",
    "flops_xla": "2 x MACs of conv taps on the input (not padding) + bias adds + pool window size - 1 (max) or "
                 "size (avg) + 1 per relu, 3 per sigmoid, 4 per swish; tanh/exp apart (XLA cost analysis)",
}


def count(arch: Arch) -> ArchCount:
    rows = layer_counts(arch)
    params = sum(r.params for r in rows)
    macs = sum(r.macs for r in rows)
    bias = sum(r.bias_adds for r in rows)
    reads = sum(r.pool_reads for r in rows)
    swish = sum(r.swish_elements for r in rows)
    return ArchCount(
        params=params,
        macs=macs,
        flops=2 * macs,
        flops_tf=2 * macs + bias + reads + 2 * swish,
        flops_xla=sum(r.flops_xla for r in rows),
        bias_adds=bias,
        pool_reads=reads,
        act_elements=sum(r.act_elements for r in rows),
        param_bytes=params * FLOAT32_BYTES,
        activation_bytes=sum(r.out_bytes for r in rows),
    )


def summary_table(arch: Arch) -> str:
    """A plain-text per-layer table (what ``lenet info`` prints)."""
    lines = [f"{arch.name}: input {arch.input_shape}, {arch.num_classes} classes",
             f"{'#':>3} {'layer':<8} {'output':<14} {'params':>9} {'MACs':>11}"]
    for r, layer in zip(layer_counts(arch), arch.layers):
        lines.append(f"{r.index:>3} {type(layer).__name__:<8} {str(r.out_shape):<14} {r.params:>9,} {r.macs:>11,}")
    c = count(arch)
    lines.append(f"total params {c.params:,} ({c.param_bytes:,} B float32), MACs {c.macs:,}, "
                 f"FLOPs {c.flops:,} (2xMAC), TF-profiler FLOPs {c.flops_tf:,} per sample")
    return "\n".join(lines)
