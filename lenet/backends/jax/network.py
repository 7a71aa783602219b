"""The spec as pure JAX functions of the canonical weight dict: forward pass, loss, one training step.

``params`` is the canonical dict itself (``"<i>.weight"``, ``"<i>.bias"``: conv ``(out, in, kh, kw)``,
dense ``(in, out)``), a pytree that ``jax.grad`` and optax walk as it is.  Activations stay NCHW float32
``(n, c, h, w)`` until Flatten, which reshapes C-major as ``torch.flatten`` does.

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
_NCHW = ("NCHW", "OIHW", "NCHW")


def _pool(layer: Pool, h: jax.Array) -> jax.Array:
    window, strides = (1, 1, layer.size, layer.size), (1, 1, layer.step, layer.step)
    pad = ((0, 0), (0, 0), (layer.padding, layer.padding), (layer.padding, layer.padding))
    if layer.op == "max":
        return lax.reduce_window(h, -jnp.inf, lax.max, window, strides, pad)
    return lax.reduce_window(h, 0.0, lax.add, window, strides, pad) / (layer.size * layer.size)


def forward(arch: Arch, params: dict, x: jax.Array) -> jax.Array:
    """Logits ``(n, classes)`` for NCHW ``x`` ``(n, c, h, w)``."""
    h = x
    for i, layer in enumerate(arch.layers):
        if isinstance(layer, Conv):
            pad = ((layer.padding, layer.padding),) * 2
            h = lax.conv_general_dilated(h, params[f"{i}.weight"], (layer.stride, layer.stride), pad,
                                         dimension_numbers=_NCHW)
            h = h + params[f"{i}.bias"][None, :, None, None]
        elif isinstance(layer, Dense):
            h = h @ params[f"{i}.weight"] + params[f"{i}.bias"]
        elif isinstance(layer, Pool):
            h = _pool(layer, h)
        elif isinstance(layer, Act):
            h = _ACTIVATIONS[layer.fn](h)
        elif isinstance(layer, Flatten):
            h = h.reshape(h.shape[0], -1)
        else:  # the spec rejects these first
            raise TypeError(f"jax backend cannot translate {layer!r}")
    return h


def loss(arch: Arch, params: dict, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean cross-entropy of the logits against integer labels ``y``, the logits)."""
    logits = forward(arch, params, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits


def train_step(arch: Arch, tx: optax.GradientTransformation, params: dict, opt_state, x_all: jax.Array,
               y_all: jax.Array, idx: jax.Array, lr: jax.Array):
    """One step on samples ``idx`` of the training set: ``(params, opt_state, loss, logits)`` after it.

    ``tx`` yields the direction of the step (lr 1); ``p -= lr * u`` applies it, so a new learning rate is a
    new argument, never a new trace.
    """
    (value, logits), grads = jax.value_and_grad(loss, argnums=1, has_aux=True)(arch, params, x_all[idx],
                                                                                 y_all[idx])
    updates, opt_state = tx.update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
    return params, opt_state, value, logits
