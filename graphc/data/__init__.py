"""Data sets and input pipelines bundled with graphc."""

from .digits import BatchIterator, DigitsSplit, load_digits_mnist

__all__ = ["BatchIterator", "DigitsSplit", "load_digits_mnist"]
