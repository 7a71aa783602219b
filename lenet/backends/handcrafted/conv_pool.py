"""A stride-1 convolution and the 2x2, stride-2 pool after it, as ONE matrix product (:class:`ConvPool2D`).

Why.  Computed apart, LeNet-5's first convolution is a thin product: 6 filters of 25 taps.  im2col
writes 25 values for each 6 it computes, and OpenBLAS ran the ``(6, 25) @ (25, 784 N)`` product at
23 GFLOP/s, a quarter to a third of this machine's one-thread GEMM peak; with its pool it was about
half of inference at batch 1024 (``lenet profile-layers``, docs/profiles).  The
pool needs the four outputs of each 2x2 block together anyway.  So this layer gathers, for every
block, the ``(k+1) x (k+1)`` input patch its four outputs read (36 values for 5x5 filters, where
im2col wrote 4 x 25), and multiplies the patches by the four *placements* of the filters stacked:
a ``(4 O, C (k+1)^2 + 1)`` matrix ``wide`` whose rows ``[i O, (i+1) O)`` are the filters shifted to
block position ``i`` (row-major: (0,0), (0,1), (1,0), (1,1)), zero elsewhere, and whose last
column is the bias, against a row of ones kept in the patch buffer.  The product's four row slabs
are contiguous, so the pool is three elementwise maxima (or sums) of them, written straight into
the standard ``(O, Ho/2, Wo/2, N)`` layout; no bias pass remains.

The price is FLOPs: the placements' zero taps make the product ``(k+1)^2 / k^2`` times the
convolution's MACs, 1.44x for 5x5.  Fewer, longer rows (``K = 37``, ``M = 24`` for conv1) and a
smaller patch buffer more than pay for it (measured in docs/profiles/handcrafted-issue17.md).

Backward mirrors it: the pool sends ``dy`` to the first maximum of each block's four outputs
(PyTorch's tie rule, as :class:`.layers.Pool2D`; the average pool to all four), the gradient of
``wide`` is one product against the patches, folded back over the four placements into the
filters' and the bias' gradients, and the patch gradient is one product by ``wide``, added into
place by ``(k+1)^2`` strided slices (neighbouring patches overlap by ``k - 1`` rows and columns).
The outputs and gradients equal a :class:`.layers.Conv2D` followed by a :class:`.layers.Pool2D` up
to rounding (tests/test_handcrafted_layers.py).
"""
from __future__ import annotations

import numpy as np

from .layers import (
    Conv2D,
    Layer,
    Pool2D,
    column_blocks,
    gram_transposed,
    patch_windows,
    pool_windows,
    route_max,
    window_slices,
)

#: the block's positions, in the pool's row-major window order
_POSITIONS = ((0, 0), (0, 1), (1, 0), (1, 1))


def fuses(conv, pool, in_shape: tuple) -> bool:
    """Whether ``pool`` right after ``conv`` on ``(C, H, W)`` input can run as one :class:`ConvPool2D`."""
    if not (isinstance(conv, Conv2D) and isinstance(pool, Pool2D)):
        return False
    ho, wo = conv.output_hw(*in_shape[1:])
    return (conv.stride == 1 and (pool.size, pool.stride, pool.padding) == (2, 2, 0)
            and ho % 2 == 0 and wo % 2 == 0)


def _describe(layer, in_shape: tuple | None = None) -> str:
    if isinstance(layer, Conv2D):
        ho, wo = layer.output_hw(*in_shape[1:])
        return f"a stride-{layer.stride} Conv2D with a {ho}x{wo} output on input {tuple(in_shape)}"
    if isinstance(layer, Pool2D):
        return f"a {layer.size}x{layer.size} stride-{layer.stride} Pool2D padded by {layer.padding}"
    return type(layer).__name__


class ConvPool2D(Layer):
    """``conv`` then ``pool`` (see :func:`fuses`): ``x (C, H, W, N) -> (O, Ho/2, Wo/2, N)``.

    It computes with the conv's own parameter and gradient arrays (those :meth:`bind` gives the
    conv), so a network's canonical weights stay where they were.
    """

    param_names = Conv2D.param_names

    def __init__(self, conv: Conv2D, pool: Pool2D, in_shape: tuple):
        if not fuses(conv, pool, in_shape):
            raise ValueError("ConvPool2D needs a stride-1 Conv2D with an even output, then an unpadded 2x2 "
                             f"stride-2 Pool2D; got {_describe(conv, in_shape)}, then {_describe(pool)}")
        super().__init__(conv.dtype)
        self.conv, self.pool = conv, pool
        c, o, k = conv.in_channels, conv.out_channels, conv.kernel
        self._patch = k + 1
        self._taps = c * self._patch ** 2
        self._wide = np.zeros((len(_POSITIONS) * o, self._taps + 1), self.dtype)
        # (position, O, C, k+1, k+1) view of the filter columns; the zeros outside each placement stay
        self._placed = self._wide[:, :-1].reshape(len(_POSITIONS), o, c, self._patch, self._patch)
        self._bias = self._wide[:, -1].reshape(len(_POSITIONS), o)
        self._last = None
        self._placed_from = None  # the bytes of the weights and bias last placed
        self.bind(conv.params, conv.grads)

    def param_shapes(self):
        return self.conv.param_shapes()

    def bind(self, params=None, grads=None):
        self.conv.bind(params, grads)
        self.params, self.grads = self.conv.params, self.conv.grads

    def _setup(self, ws, shape):
        c, h, w, n = shape
        conv = self.conv
        if c != conv.in_channels:
            raise ValueError(f"ConvPool2D expects {conv.in_channels} input channels (C, H, W, N), got shape {shape}")
        p, o, kp = conv.padding, conv.out_channels, self._patch
        ho, wo = conv.output_hw(h, w)
        if ho % 2 or wo % 2:
            raise ValueError(f"ConvPool2D needs an even convolution output, got {ho}x{wo} from input shape {shape}")
        r, q = ho // 2, wo // 2
        cols = r * q * n
        ws.out_hw = (r, q)
        ws.cols = self._buf((self._taps + 1, cols))
        ws.cols[-1] = 1  # the bias row: the patch copies never write it
        ws.cols6 = ws.cols[:-1].reshape(c, kp, kp, r, q, n)
        if p:
            ws.pad = self._buf((c, h + 2 * p, w + 2 * p, n), fill=0)  # borders zeroed once, never written again
            ws.pad_inner = ws.pad[:, p:p + h, p:p + w, :]
            ws.src, ws.win = ws.pad, self._windows(ws.pad, r, q)
        ws.prod = self._buf((len(_POSITIONS) * o, cols))
        ws.slabs = [ws.prod[i * o:(i + 1) * o] for i in range(len(_POSITIONS))]
        ws.out2 = self._buf((o, cols))
        ws.out = ws.out2.reshape(o, r, q, n)
        ws.dprod = self._buf(ws.prod.shape)
        ws.dslabs = [ws.dprod[i * o:(i + 1) * o] for i in range(len(_POSITIONS))]
        ws.rest, ws.part = self._buf((o, cols)), self._buf((o, cols))
        ws.mask = np.empty((o, cols), bool)
        # the gradient of `wide` is computed transposed, (taps + 1, 4 O), as Conv2D computes its dW
        ws.dwt = self._buf((self._taps + 1, len(_POSITIONS) * o))
        ws.dwt_part = self._buf(ws.dwt.shape)
        ws.dw_blocks = column_blocks(cols)
        ws.dcols = self._buf((self._taps, cols))
        dcols6 = ws.dcols.reshape(c, kp, kp, r, q, n)
        ws.dxp = self._buf((c, h + 2 * p, w + 2 * p, n))
        ws.dx = ws.dxp[:, p:p + h, p:p + w, :] if p else ws.dxp
        dst = window_slices(ws.dxp, kp, 2, r, q)
        ws.col2im = [(dst[i * kp + j], dcols6[:, i, j]) for i in range(kp) for j in range(kp)]

    def _windows(self, src, r, q):
        return patch_windows(src, self._patch, 2, r, q)  # (C, kp, kp, r, q, N), matches cols6

    def _place(self) -> None:
        """Make ``wide`` hold the current filters and bias, unless it holds them already.

        Writing the placements (four strided copies of ``k``-tap rows) took a tenth of conv2's forward on a
        32-sample chunk, and a third of the whole forward of one sample, for weights that change only
        between batches.  So they are written when the weights' bytes differ from those last placed (about
        1 us to compare): an in-place update, as the optimizer makes, is seen by the next call.
        """
        key = self.params["weight"].tobytes() + self.params["bias"].tobytes()
        if key != self._placed_from:
            self._write_placements()
            self._placed_from = key

    def _write_placements(self) -> None:
        k = self.conv.kernel
        for i, (dr, dc) in enumerate(_POSITIONS):
            np.copyto(self._placed[i, :, :, dr:dr + k, dc:dc + k], self.params["weight"])
        np.copyto(self._bias, self.params["bias"])

    def forward(self, x):
        """``x (C, H, W, N) -> (O, Ho/2, Wo/2, N)``."""
        ws = self._workspace(x.shape)
        if self.conv.padding:
            np.copyto(ws.pad_inner, x)
        elif x is not ws.src:  # the window view is cached while the input buffer stays the same
            ws.src, ws.win = x, self._windows(x, *ws.out_hw)
        np.copyto(ws.cols6, ws.win)
        self._place()
        np.matmul(self._wide, ws.cols, out=ws.prod)
        pool_windows(ws.slabs, self.pool.op, ws.out2)
        self._last = ws
        return ws.out

    def backward(self, dy, need_dx=True):
        """``dy (O, Ho/2, Wo/2, N) -> dx (C, H, W, N)``; fills ``grads["weight"]`` and ``grads["bias"]``."""
        ws = self._last_forward(dy, "out")
        dy2 = dy.reshape(ws.out2.shape)  # a view, or a copy when dy is not contiguous
        if self.pool.op == "max":
            route_max(ws.slabs, ws.out2, dy2, ws.dslabs, True, ws.rest, ws.part, ws.mask)
        else:
            np.multiply(dy2, 1.0 / len(ws.dslabs), out=ws.dslabs[0])
            for d in ws.dslabs[1:]:
                np.copyto(d, ws.dslabs[0])
        dwide = gram_transposed(ws.cols, ws.dprod, ws.dw_blocks, ws.dwt, ws.dwt_part).T  # (4 O, taps + 1)
        placed = dwide[:, :-1].reshape(self._placed.shape)
        k, gw = self.conv.kernel, self.grads["weight"]
        for i, (dr, dc) in enumerate(_POSITIONS):
            part = placed[i, :, :, dr:dr + k, dc:dc + k]
            if i:
                np.add(gw, part, out=gw)
            else:
                np.copyto(gw, part)
        np.sum(dwide[:, -1].reshape(self._bias.shape), axis=0, out=self.grads["bias"])
        if not need_dx:
            return None
        np.matmul(self._wide[:, :-1].T, ws.dprod, out=ws.dcols)
        ws.dxp.fill(0)
        for dst, src in ws.col2im:  # col2im: overlapping patches accumulate
            np.add(dst, src, out=dst)
        return ws.dx
