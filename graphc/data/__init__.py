"""Data sets and input pipelines: tf.data (``Dataset``, ``Iterator``) and the bundled digits."""

from .dataset import (
    FEED_PROVIDERS,
    Dataset,
    Iterator,
    iterator_feeds,
    make_initializable_iterator,
    make_one_shot_iterator,
)
from .digits import BatchIterator, DigitsSplit, load_digits_mnist

__all__ = [
    "FEED_PROVIDERS",
    "BatchIterator",
    "Dataset",
    "DigitsSplit",
    "Iterator",
    "iterator_feeds",
    "load_digits_mnist",
    "make_initializable_iterator",
    "make_one_shot_iterator",
]
