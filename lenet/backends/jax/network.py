"""The spec as pure JAX functions of the canonical weight dict: forward pass, loss, one training step.

``params`` is the canonical dict itself (``"<i>.weight"``, ``"<i>.bias"``: conv ``(out, in, kh, kw)``,
dense ``(in, out)``), a pytree that ``jax.grad`` and optax walk as it is.

Two layouts.  ``"NCHW"`` (the canonical one): activations ``(n, c, h, w)`` float32 until Flatten, which
reshapes C-major as ``torch.flatten`` does, and the weights as they are.  ``"NHWC"``: activations
``(n, h, w, c)``, conv kernels ``(kh, kw, in, out)`` (HWIO) and the rows of the first dense layer after a
Flatten of a feature map permuted from ``(C, H, W)`` to ``(H, W, C)`` order, so that flattening the NHWC map
needs no transpose; :func:`laid_out` converts canonical weights to it.  XLA's CPU convolution kernels
(Eigen's) take channels-last data: given NCHW, XLA transposes the activations around every convolution,
which NHWC avoids.  Trainers differentiate through :func:`laid_out`, so the gradients, the
optimizer state and the weights stay canonical.

Translation notes (each one is what :mod:`lenet.spec` says):

- ``Conv``: ``lax.conv_general_dilated`` with dimension numbers ``("NCHW", "OIHW", "NCHW")``, zero padding,
  cross-correlation as in every framework.
- ``Pool("max", padding=p)``: ``lax.reduce_window`` of ``max`` from -inf, so padding never wins.
- ``Pool("avg", padding=p)``: ``reduce_window`` of ``add`` from 0, divided by ``size**2``: the padded zeros
  count in the mean (torch's ``count_include_pad=True``).
- ``Act("swish")``: ``jax.nn.silu`` (x * sigmoid(x)).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import lax

from ...spec import Act, Arch, Conv, Dense, Flatten, Pool

_ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "swish": jax.nn.silu}
_DIMENSIONS = {"NCHW": ("NCHW", "OIHW", "NCHW"), "NHWC": ("NHWC", "HWIO", "NHWC")}


def laid_out(arch: Arch, params: dict, layout: str):
    """Canonical ``params`` in ``layout``'s form (see the module docstring); differentiable, jnp or NumPy."""
    if layout == "NCHW":
        return params
    out, flat_from = dict(params), None
    for i, (layer, in_shape) in enumerate(zip(arch.layers, arch.input_shapes())):
        if isinstance(layer, Conv):
            out[f"{i}.weight"] = params[f"{i}.weight"].transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif isinstance(layer, Flatten) and len(in_shape) == 3:
            flat_from = in_shape
        elif isinstance(layer, Dense) and flat_from:
            c, h, w = flat_from
            out[f"{i}.weight"] = (params[f"{i}.weight"].reshape(c, h, w, -1).transpose(1, 2, 0, 3)
                                  .reshape(c * h * w, -1))  # rows (C, H, W) -> (H, W, C)
            flat_from = None
    return out


def to_layout(x, layout: str):
    """NCHW input ``x`` in ``layout`` (a NumPy transpose, made once outside any timed or jitted call)."""
    return x if layout == "NCHW" else x.transpose(0, 2, 3, 1)


def _pool(layer: Pool, h: jax.Array, layout: str) -> jax.Array:
    spatial, p = (layer.size, layer.size), ((layer.padding, layer.padding),) * 2
    steps = (layer.step, layer.step)
    if layout == "NCHW":
        window, strides, pad = (1, 1, *spatial), (1, 1, *steps), ((0, 0), (0, 0), *p)
    else:
        window, strides, pad = (1, *spatial, 1), (1, *steps, 1), ((0, 0), *p, (0, 0))
    if layer.op == "max":
        return lax.reduce_window(h, -jnp.inf, lax.max, window, strides, pad)
    return lax.reduce_window(h, 0.0, lax.add, window, strides, pad) / (layer.size * layer.size)


def forward(arch: Arch, params: dict, x: jax.Array, layout: str = "NCHW") -> jax.Array:
    """Logits ``(n, classes)`` for ``x`` in ``layout`` and ``params`` laid out for it (:func:`laid_out`)."""
    h = x
    bias_shape = (1, -1, 1, 1) if layout == "NCHW" else (1, 1, 1, -1)
    for i, layer in enumerate(arch.layers):
        if isinstance(layer, Conv):
            pad = ((layer.padding, layer.padding),) * 2
            h = lax.conv_general_dilated(h, params[f"{i}.weight"], (layer.stride, layer.stride), pad,
                                         dimension_numbers=_DIMENSIONS[layout])
            h = h + params[f"{i}.bias"].reshape(bias_shape)
        elif isinstance(layer, Dense):
            h = h @ params[f"{i}.weight"] + params[f"{i}.bias"]
        elif isinstance(layer, Pool):
            h = _pool(layer, h, layout)
        elif isinstance(layer, Act):
            h = _ACTIVATIONS[layer.fn](h)
        elif isinstance(layer, Flatten):
            h = h.reshape(h.shape[0], -1)
        else:  # the spec rejects these first
            raise TypeError(f"jax backend cannot translate {layer!r}")
    return h


def loss(arch: Arch, layout: str, params: dict, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean cross-entropy of the logits against integer labels ``y``, the logits), for canonical ``params``
    and ``x`` in ``layout``."""
    logits = forward(arch, laid_out(arch, params, layout), x, layout)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits


def train_step(arch: Arch, layout: str, tx: optax.GradientTransformation, params: dict, opt_state,
               x_all: jax.Array, y_all: jax.Array, idx: jax.Array, lr: jax.Array):
    """One step on samples ``idx`` of the training set (held in ``layout``): ``(params, opt_state, loss,
    logits)`` after it; ``params`` and ``opt_state`` canonical.

    ``tx`` yields the direction of the step (lr 1); ``p -= lr * u`` applies it, so a new learning rate is a
    new argument, never a new trace.
    """
    (value, logits), grads = jax.value_and_grad(loss, argnums=2, has_aux=True)(arch, layout, params,
                                                                                 x_all[idx], y_all[idx])
    updates, opt_state = tx.update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
    return params, opt_state, value, logits
