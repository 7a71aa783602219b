"""JAX backend: the spec as one pure function of a canonical weight dict (:mod:`.network`), trained with
torch-form optax optimizers (:mod:`.optim`), behind the contract (:mod:`.backend`).  This declaration imports
nothing of JAX.

Why jax.numpy and ``lax`` rather than Flax: the spec already is the model description, and the canonical
weights (conv ``(out, in, kh, kw)``, dense ``(in, out)``) are exactly what ``lax.conv_general_dilated`` with
``("NCHW", "OIHW", "NCHW")`` and ``x @ w`` take.  The forward pass is one loop over the spec's layers (about
twenty lines), and the parameters are the canonical dict itself, a pytree, so ``get_weights`` and
``set_weights`` copy without renaming or transposing.  Flax's modules would add a second description of the
same layers, its own parameter tree to map onto the canonical keys, and one more dependency, for nothing the
study measures.

Modes, the same for inference and training: ``"jit"`` (the default) traces the forward pass, or the whole
training step (gather, forward, loss, gradient, optimizer update), into one XLA computation per input shape;
``"eager"`` runs the same Python op by op under ``jax.disable_jit()``, each primitive dispatched on its own;
``"jit-nhwc"``, the tuned mode (JAX's guide: jit the whole computation; XLA's CPU convolutions want
channels-last data), is ``"jit"`` with channels-last activations and HWIO kernels (:mod:`.network`): the input
and the training set are transposed once, outside the jitted calls, and the weights laid out once per
``make_forward`` (a trainer differentiates through the layout, so its weights stay canonical).
The weights it runs are its own: it trains.
"""
from .. import Capabilities

NAME = "jax"
# framework: optax, which needs jax and jaxlib, so that it is importable only when all three are
CAPABILITIES = Capabilities(framework="optax", extra="jax", infer_modes=("jit", "eager", "jit-nhwc"),
                            train_modes=("jit", "eager", "jit-nhwc"), devices=("cpu", "gpu"),
                            tuned={"infer": "jit-nhwc", "train": "jit-nhwc"},
                            flop_counters=("xla_cost_analysis",))
