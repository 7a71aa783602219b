"""Model compression, measured honestly: pruning (masked vs physically removed), int8, low-rank.

Framework-neutral techniques work on canonical weights (:mod:`lenet.io.weights`)
and specs (:mod:`lenet.spec`), so every backend runs their output:

* :mod:`.pruning`     unstructured magnitude masks, layer-wise or global; :mod:`.finetune` keeps them
  through fine-tuning in any backend (re-applied after every step of the shared loop);
* :mod:`.sparse`      the pruned weights physically stored as CSR, exact round trip;
* :mod:`.structured`  whole filters / neurons removed by L1 norm -> a smaller Arch;
* :mod:`.lowrank`     truncated SVD of dense (and conv) layers -> two thinner layers.

Framework-native techniques are hooks of the backends that own the framework,
declared in their ``Capabilities.compression`` and called through the registry
(``backend.compress``; ``backend.load_artifact`` rebuilds one in the memory probe):

* torch: ``torch.nn.utils.prune`` (masks + hooks: the state dict grows until ``prune.remove``), static (FX, x86)
  and dynamic int8 (:mod:`lenet.backends.torch.prune`, :mod:`lenet.backends.torch.quant`);
* keras: TensorFlow Lite full-integer int8 (:mod:`lenet.backends.keras.tflite`);
* handcrafted: the NumPy int8 engine (:mod:`lenet.backends.handcrafted.int8`);
* onnxruntime: ORT's ``quantize_static`` (:mod:`lenet.backends.onnxruntime.quant`).

:mod:`.runner` applies each (technique, level) to a backend's trained model and
builds the record the report renders; latency, sizes and peak memory are
measured by :mod:`lenet.measure`.

Keras pruning and tensorflow-model-optimization (tfmot)
-------------------------------------------------------
Checked on this stack (TF 2.21, Keras 3.15) in a scratch virtualenv, never in
the project's: tfmot 0.8.1 requires ``tf-keras``, which requires the
``tensorflow`` distribution (``tensorflow<2.22,>=2.21``).  With
``tensorflow-cpu`` installed, pip therefore pulls a second, 1.9 GB copy of
TensorFlow that writes into the same ``tensorflow/`` package folder: two
distributions owning one set of files.  Given that, tfmot does run beside the
Keras 3 backend in one process: ``prune_low_magnitude`` on a *tf_keras* model
trains to the requested sparsity, ``strip_pruning`` works, and the Keras 3
model keeps predicting and training, with or without ``TF_USE_LEGACY_KERAS=1``
(which only re-points ``tf.keras``; this project imports ``keras`` directly).
But tfmot refuses the Keras 3 model the backend builds ("can only prune an
object of the following types: keras.models.Sequential ..."), so using it
would mean a second translation of the spec into tf_keras, and a
conflicting dependency.  Keras pruning therefore uses the shared canonical
masks with the backend's own trainer (:mod:`.finetune`), and tfmot is not a
dependency.
"""
