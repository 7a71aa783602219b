"""Keras' optimizers made to follow :class:`lenet.training.TrainConfig` in torch's form.

- ``weight_decay`` is added to the gradient (``g + wd * p``, every parameter,
  biases included) as torch does, not Keras' decoupled ``weight_decay``.  It is
  done inside the optimizer's ``apply_gradients`` (:class:`TorchSGD`,
  :class:`TorchAdam`), so that ``model.fit`` applies it too.
- SGD momentum: Keras keeps ``v' = m*v' - lr*g; p += v'`` where torch keeps
  ``v = m*v + g; p -= lr*v``.  While lr is constant ``v' = -lr*v`` and the two
  agree.  When lr changes (a schedule), torch applies the new lr to the whole
  accumulated velocity, Keras only to new gradients; the trainer therefore
  rescales Keras' velocity by ``lr_new / lr_old`` at each change, which keeps
  ``v' = -lr*v`` and the two forms identical.
- Adam: Keras folds both bias corrections into the step size
  (``p -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)``), so its epsilon
  acts as ``eps / sqrt(1 - b2^t)`` in torch's formula
  (``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``): 3.2e-7 instead
  of 1e-8 at the first step, decaying over thousands of steps.  Parameters
  with small gradients (first-layer weights over a constant image border)
  then move several times less than in torch: a measured 1.6e-4 against
  8.6e-4 after one step at lr 1e-3.  :class:`TorchFormAdam` is Keras' Adam
  (same slots and step counter) with torch's update rule.
"""
from __future__ import annotations

from ... import training
from .runtime import keras

ops = keras.ops

@keras.saving.register_keras_serializable(package="lenet")
class TorchFormAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with torch's (and the paper's Algorithm 1) placement of epsilon.

    ``m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``.  Keras' own rule
    differs for small gradients; see the module docstring.
    """

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        bias1 = 1 - ops.power(ops.cast(self.beta_1, dtype), t)
        bias2 = 1 - ops.power(ops.cast(self.beta_2, dtype), t)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        denom = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(bias2)), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(m, lr / bias1), denom))


class _TorchWeightDecay:
    """Mixin for a Keras optimizer: torch's ``weight_decay`` (``g + wd * p``) added to every gradient.

    It sits in ``apply_gradients``, which both the hand-written step and
    Keras' ``fit`` call.  ``python_calls`` counts how often that Python code
    ran: once per step in eager mode, once per trace in a traced one (a
    Python-side trace counter that also sees inside ``model.fit``).
    """

    def __init__(self, *args, torch_weight_decay: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.torch_weight_decay = float(torch_weight_decay)
        self.python_calls = 0

    def apply_gradients(self, grads_and_vars):
        self.python_calls += 1
        wd = self.torch_weight_decay
        if wd:  # L2 on the gradient, as torch's weight_decay (not decoupled)
            grads_and_vars = [(g + wd * v, v) for g, v in grads_and_vars]
        return super().apply_gradients(grads_and_vars)

    def get_config(self):
        return {**super().get_config(), "torch_weight_decay": self.torch_weight_decay}


@keras.saving.register_keras_serializable(package="lenet")
class TorchSGD(_TorchWeightDecay, keras.optimizers.SGD):
    """Keras SGD with torch's weight decay; the trainer keeps its momentum in torch's form across lr changes."""


@keras.saving.register_keras_serializable(package="lenet")
class TorchAdam(_TorchWeightDecay, TorchFormAdam):
    """:class:`TorchFormAdam` with torch's weight decay."""


def make_optimizer(config: training.TrainConfig):
    if config.optimizer == "sgd":
        return TorchSGD(learning_rate=float(config.lr), momentum=float(config.momentum),
                        torch_weight_decay=float(config.weight_decay))
    return TorchAdam(learning_rate=float(config.lr), beta_1=0.9, beta_2=0.999, epsilon=1e-8, amsgrad=False,
                     torch_weight_decay=float(config.weight_decay))
