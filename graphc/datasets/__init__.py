"""Data sets read from files a user has downloaded, and the bundled digits.

Nothing here downloads: :func:`mnist` reads MNIST's four IDX files (gzipped or not),
:func:`cifar10` CIFAR-10's binary batches, :func:`image_folder` a folder per class of
JPEG/PNG images (with Pillow, an optional dependency: the ``images`` extra), and
:func:`digits` loads scikit-learn's bundled 8x8 digits, also in MNIST's 28x28 layout.
The loaders return NumPy arrays in Keras's ``((x_train, y_train), (x_test, y_test))``
form. A missing file raises FileNotFoundError; a truncated or malformed one
``graphc.errors.DataLossError`` naming the file and what is wrong.
"""

from graphc.datasets.bundled import digits
from graphc.datasets.cifar import CIFAR10_CLASSES, cifar10, read_cifar10_batch
from graphc.datasets.folder import IMAGE_EXTENSIONS, image_folder
from graphc.datasets.idx import mnist, read_idx

__all__ = [
    "CIFAR10_CLASSES",
    "IMAGE_EXTENSIONS",
    "cifar10",
    "digits",
    "image_folder",
    "mnist",
    "read_cifar10_batch",
    "read_idx",
]
