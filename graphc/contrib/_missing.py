"""The error for a tf.contrib name graphc does not provide."""

from __future__ import annotations

import sys

README_SECTION = 'the README\'s list of what graphc leaves out of TF1 ("Left out of TF1")'


def contrib_error(qualified: str, instead: str | None, module: str) -> AttributeError:
    """An AttributeError for ``qualified`` (e.g. "tf.contrib.rnn"): TF1's contrib is not
    provided by graphc; ``instead`` says what to use. The error carries the module as its
    ``obj`` and no ``name``, so Python adds no "Did you mean" guess to it."""
    advice = f"; {instead}" if instead else ""
    text = f"{qualified} is TF1's contrib, which graphc does not provide{advice}. See {README_SECTION}."
    return AttributeError(text, obj=sys.modules.get(module))
