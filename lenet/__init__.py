"""lenet-bench: LeNet-5, a modified LeNet-5 and MLPs in NumPy, PyTorch and Keras, compared honestly."""
__version__ = "0.1.0"
