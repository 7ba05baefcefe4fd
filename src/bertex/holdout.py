"""The held-out split bertex scores on: one rule, so that a frozen head (`bertex train`) and a
tuned model (`bertex tune`, its benchmark) are compared on the same rows.

The rows (sentences for tagging, texts for classification) are shuffled by a generator seeded
with `seed`; the first round(n * fraction) of the shuffled order are held out. Both parts
keep the file's order.
"""

from __future__ import annotations

import numpy as np

from .errors import OptionError

FRACTION = 0.2
SEED = 0
MIN_ROWS = 10  # fewer rows give no held-out score worth printing


def split(n: int, fraction: float = FRACTION, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows) of n rows, each in file order.

    >>> split(10, 0.2, seed=0)
    (array([0, 1, 2, 3, 5, 7, 8, 9]), array([4, 6]))
    >>> split(3, 0.0)
    (array([0, 1, 2]), array([], dtype=int64))
    """
    if not 0.0 <= fraction < 1.0:
        raise OptionError("held_out", fraction, ["a fraction in [0, 1)"], "0 keeps every row")
    k = int(round(n * fraction))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[k:]), np.sort(order[:k])
