"""One architecture description for every backend.

An :class:`Arch` is an input shape ``(C, H, W)``, a class count and a tuple of
layer specs.  Backends translate it; :mod:`lenet.counting` derives parameters
and MACs from it on paper.  Nothing here imports a framework.

Validation happens at construction: an impossible spec (a kernel larger than
its padded input, zero channels, a classifier whose width is not the class
count) raises :class:`SpecError` naming the offending layer, so no backend
ever sees it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

ACTIVATIONS = ("tanh", "relu", "sigmoid", "swish")
POOLS = ("max", "avg")


class SpecError(ValueError):
    """An architecture that cannot be built."""


@dataclass(frozen=True)
class Conv:
    """2-D convolution, cross-correlation as in every framework.

    Weights ``(out_channels, in_channels, kernel, kernel)``, bias ``(out_channels,)``.
    """

    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0  # zeros on every side
    kind: str = field(default="conv", init=False)


@dataclass(frozen=True)
class Pool:
    """Max or average pooling over ``size x size`` windows.

    ``stride`` defaults to ``size``.  Max pooling pads with -inf; average
    pooling pads with zeros and counts them in the mean (PyTorch's
    ``count_include_pad=True``).
    """

    op: str = "max"
    size: int = 2
    stride: int | None = None
    padding: int = 0
    kind: str = field(default="pool", init=False)

    @property
    def step(self) -> int:
        return self.stride if self.stride is not None else self.size


@dataclass(frozen=True)
class Dense:
    """Fully connected layer. Weights ``(in_features, out_features)``, bias ``(out_features,)``."""

    units: int
    kind: str = field(default="dense", init=False)


@dataclass(frozen=True)
class Act:
    """Elementwise activation: tanh, relu, sigmoid or swish (x * sigmoid(x))."""

    fn: str
    kind: str = field(default="act", init=False)


@dataclass(frozen=True)
class Flatten:
    """``(C, H, W) -> (C*H*W,)`` in C-major order, as ``torch.flatten`` on NCHW."""

    kind: str = field(default="flatten", init=False)


Layer = Conv | Pool | Dense | Act | Flatten
_KINDS = {"conv": Conv, "pool": Pool, "dense": Dense, "act": Act, "flatten": Flatten}
Shape = tuple  # (C, H, W) before Flatten, (F,) after


def _describe(index: int, layer: Layer) -> str:
    fields = {k: v for k, v in asdict(layer).items() if k != "kind"}
    args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return f"layer {index} ({type(layer).__name__}({args}))"


def output_size(n: int, window: int, stride: int, padding: int = 0) -> int:
    """Output length of a conv or pool window sliding over ``n`` inputs: ``(n + 2p - window) // stride + 1``
    (windows that would run past the padded input are dropped, as every framework does)."""
    return (n + 2 * padding - window) // stride + 1


def output_shape(layer: Layer, shape: Shape, index: int = 0) -> Shape:
    """Shape after ``layer`` given the per-sample input ``shape``; raises SpecError."""
    where = _describe(index, layer)
    if isinstance(layer, (Conv, Pool)):
        if len(shape) != 3:
            raise SpecError(f"{where}: needs a (C, H, W) input, got flat shape {shape}; put it before Flatten")
        c, h, w = shape
        size = layer.kernel if isinstance(layer, Conv) else layer.size
        step = layer.stride if isinstance(layer, Conv) else layer.step
        if size < 1 or step < 1 or layer.padding < 0:
            raise SpecError(f"{where}: kernel and stride must be >= 1 and padding >= 0")
        if isinstance(layer, Pool):
            if layer.op not in POOLS:
                raise SpecError(f"{where}: op must be one of {POOLS}, got {layer.op!r}")
            if 2 * layer.padding > size:
                raise SpecError(f"{where}: padding {layer.padding} exceeds half the window {size}")
        hp, wp = h + 2 * layer.padding, w + 2 * layer.padding
        if size > hp or size > wp:
            raise SpecError(f"{where}: window {size}x{size} is larger than its padded input {hp}x{wp}")
        out_c = c
        if isinstance(layer, Conv):
            if layer.out_channels < 1:
                raise SpecError(f"{where}: out_channels must be >= 1, got {layer.out_channels}")
            out_c = layer.out_channels
        return (out_c, output_size(h, size, step, layer.padding), output_size(w, size, step, layer.padding))
    if isinstance(layer, Dense):
        if len(shape) != 1:
            raise SpecError(f"{where}: needs a flat input, got {shape}; put a Flatten before it")
        if layer.units < 1:
            raise SpecError(f"{where}: units must be >= 1, got {layer.units}")
        return (layer.units,)
    if isinstance(layer, Act):
        if layer.fn not in ACTIVATIONS:
            raise SpecError(f"{where}: activation must be one of {ACTIVATIONS}, got {layer.fn!r}")
        return shape
    if isinstance(layer, Flatten):
        n = 1
        for d in shape:
            n *= d
        return (n,)
    raise SpecError(f"layer {index}: unknown layer type {type(layer).__name__}")


@dataclass(frozen=True)
class Arch:
    """A network: ``input_shape = (C, H, W)``, ``num_classes`` and ``layers``.

    The last layer must be ``Dense(num_classes)``; the network outputs logits
    (softmax lives in the loss).
    """

    name: str
    input_shape: tuple
    num_classes: int
    layers: tuple

    def __post_init__(self):
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise SpecError(f"{self.name}: input_shape must be (C, H, W) with every entry >= 1, got {self.input_shape}")
        if self.num_classes < 2:
            raise SpecError(f"{self.name}: num_classes must be >= 2, got {self.num_classes}")
        if not self.layers:
            raise SpecError(f"{self.name}: no layers")
        shapes = self.shapes()  # validates every layer
        last = self.layers[-1]
        if not isinstance(last, Dense) or shapes[-1] != (self.num_classes,):
            raise SpecError(
                f"{self.name}: {_describe(len(self.layers) - 1, last)} must be Dense({self.num_classes}) "
                f"producing one logit per class, got output shape {shapes[-1]}"
            )

    def shapes(self) -> list[Shape]:
        """Per-sample output shape of every layer (validating as it goes)."""
        shape, out = self.input_shape, []
        for i, layer in enumerate(self.layers):
            shape = output_shape(layer, shape, i)
            out.append(shape)
        return out

    def input_shapes(self) -> list[Shape]:
        return [self.input_shape, *self.shapes()[:-1]]

    # -- serialisation: the spec travels inside weight files and cache keys --
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "layers": [asdict(layer) for layer in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Arch:
        """The Arch that :meth:`to_dict` described, every field type-checked.

        Counts must be JSON integers (``10.7``, ``"10"`` and ``true`` are
        refused, never rounded or coerced), names strings, and each layer an
        object with its kind's fields only.
        """
        if not isinstance(d, dict):
            raise SpecError(f"architecture description must be an object, got {_json_type(d)}")
        missing = [k for k in ("name", "input_shape", "num_classes", "layers") if k not in d]
        if missing:
            raise SpecError(f"architecture description lacks {missing}")
        _check_type(d["name"], "str", "name")
        shape = d["input_shape"]
        if not isinstance(shape, list) or len(shape) != 3 or not all(_is_int(v) for v in shape):
            raise SpecError(f"input_shape must be a list of 3 integers (C, H, W), got {shape!r}")
        _check_type(d["num_classes"], "int", "num_classes")
        if not isinstance(d["layers"], list):
            raise SpecError(f"layers must be a list, got {_json_type(d['layers'])}")
        return cls(d["name"], tuple(shape), d["num_classes"],
                   tuple(_layer_from_dict(i, ld) for i, ld in enumerate(d["layers"])))

    def param_layers(self) -> list[int]:
        """Indices of layers with weights (Conv, Dense)."""
        return [i for i, layer in enumerate(self.layers) if isinstance(layer, (Conv, Dense))]

    def weight_shapes(self) -> dict[str, tuple]:
        """Canonical weight layout: ``{"<i>.weight": shape, "<i>.bias": shape}``.

        Conv ``(out, in, k, k)``, Dense ``(in, out)``, biases 1-D.  Keys are
        the layer's index in ``layers``, as in a ``torch.nn.Sequential`` state dict.
        """
        out = {}
        for i, (layer, in_shape) in enumerate(zip(self.layers, self.input_shapes())):
            if isinstance(layer, Conv):
                out[f"{i}.weight"] = (layer.out_channels, in_shape[0], layer.kernel, layer.kernel)
                out[f"{i}.bias"] = (layer.out_channels,)
            elif isinstance(layer, Dense):
                out[f"{i}.weight"] = (in_shape[0], layer.units)
                out[f"{i}.bias"] = (layer.units,)
        return out


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_FIELD_TYPES = {"int": (_is_int, "an integer"), "str": (lambda v: isinstance(v, str), "a string"),
                "int | None": (lambda v: v is None or _is_int(v), "an integer or null")}


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), f"the number {value!r}" if isinstance(value, (int, float)) else type(value).__name__)


def _check_type(value, annotation: str, what: str) -> None:
    ok, expected = _FIELD_TYPES[annotation]
    if not ok(value):
        raise SpecError(f"{what} must be {expected}, got {value!r}")


def _layer_from_dict(index: int, ld) -> Layer:
    if not isinstance(ld, dict):
        raise SpecError(f"layer {index}: must be an object, got {_json_type(ld)}")
    kind = ld.get("kind")
    if kind not in _KINDS:
        raise SpecError(f"layer {index}: unknown kind {kind!r}, expected one of {sorted(_KINDS)}")
    layer_cls = _KINDS[kind]
    known = {f.name: f.type for f in fields(layer_cls) if f.init}
    unknown = sorted(set(ld) - set(known) - {"kind"})
    if unknown:
        raise SpecError(f"layer {index} ({kind}): unknown field(s) {unknown}; expected {sorted(known)}")
    args = {}
    for name, annotation in known.items():
        if name in ld:
            _check_type(ld[name], annotation, f"layer {index} ({kind}) {name}")
            args[name] = ld[name]
    try:
        return layer_cls(**args)
    except TypeError as e:  # a required field left out
        raise SpecError(f"layer {index} ({kind}): {e}") from None


def _check_choice(value: str, choices: tuple, what: str) -> str:
    if value not in choices:
        raise SpecError(f"{what} must be one of {choices}, got {value!r}")
    return value


def lenet5(num_classes: int = 10, activation: str = "tanh", pool: str = "max",
           in_channels: int = 1, input_size: int = 32) -> Arch:
    """LeNet-5 (LeCun et al. 1998) as the reference studies used it.

    conv 5x5 -> 6, pool 2, conv 5x5 -> 16, pool 2, dense 120, 84, classes.
    At 32x32 the conv stack leaves 16x5x5 = 400 features; for 10 classes that
    is 61,706 parameters and 416,520 MACs per sample.  The original's sparse
    C3 connection table and RBF output are replaced, as in every modern
    re-implementation, by a full conv and a dense layer.
    """
    _check_choice(activation, ACTIVATIONS, "activation")
    _check_choice(pool, POOLS, "pool")
    a = lambda: Act(activation)  # noqa: E731
    layers = (
        Conv(6, 5), a(), Pool(pool, 2),
        Conv(16, 5), a(), Pool(pool, 2),
        Flatten(),
        Dense(120), a(), Dense(84), a(), Dense(num_classes),
    )
    name = f"lenet5-{activation}-{pool}pool"
    return Arch(name, (in_channels, input_size, input_size), num_classes, layers)


def lenet5_modified(num_classes: int = 10, in_channels: int = 1, input_size: int = 32,
                    activation: str = "swish") -> Arch:
    """Study D's modified LeNet-5: swish, conv2 and pool2 padded by 1, an extra 3x3 conv 16->32.

    At 32x32: 28x28x6 -> 14x14x6 -> 12x12x16 -> 7x7x16 -> 5x5x32 = 800 features,
    then dense 120, 84, classes (dense-1 is sized from the spec, not by hand:
    the reference study mis-sized its dense-1).
    """
    _check_choice(activation, ACTIVATIONS, "activation")
    a = lambda: Act(activation)  # noqa: E731
    layers = (
        Conv(6, 5), a(), Pool("max", 2),
        Conv(16, 5, padding=1), a(), Pool("max", 2, padding=1),
        Conv(32, 3), a(),
        Flatten(),
        Dense(120), a(), Dense(84), a(), Dense(num_classes),
    )
    return Arch(f"lenet5mod-{activation}", (in_channels, input_size, input_size), num_classes, layers)


def mlp(hidden: tuple = (100,), input_shape: tuple = (1, 28, 28), num_classes: int = 10,
        activation: str = "relu") -> Arch:
    """Multilayer perceptron on the flattened input: hidden widths, then the classifier."""
    _check_choice(activation, ACTIVATIONS, "activation")
    hidden = tuple(int(h) for h in hidden)
    layers: list = [Flatten()]
    for h in hidden:
        layers += [Dense(h), Act(activation)]
    layers.append(Dense(num_classes))
    name = "mlp-" + ("x".join(map(str, hidden)) if hidden else "linear")
    return Arch(name, tuple(input_shape), num_classes, tuple(layers))


ARCHITECTURES = {
    "lenet5": lenet5,
    "lenet5-relu": lambda **kw: lenet5(activation="relu", **kw),
    "lenet5-relu-avg": lambda **kw: lenet5(activation="relu", pool="avg", **kw),
    "lenet5-modified": lenet5_modified,
    "mlp": mlp,
}


def build_arch(name: str, num_classes: int, input_shape: tuple) -> Arch:
    """Architecture by registry name, sized for a dataset's input and classes."""
    if name not in ARCHITECTURES:
        raise SpecError(f"unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}")
    c, h, w = input_shape
    if name == "mlp":
        return mlp(input_shape=input_shape, num_classes=num_classes)
    if h != w:
        raise SpecError(f"{name} needs square input, got {h}x{w}")
    return ARCHITECTURES[name](num_classes=num_classes, in_channels=c, input_size=h)
