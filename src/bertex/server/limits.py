"""The size of an answer, counted before anything is computed.

A 10 KB request can ask for hundreds of megabytes (attention maps grow with the square of the
length, `hidden_states` with the layers); the server counts the numbers an answer would hold
from the options and the token counts, and refuses past `max_output_floats` with 413 naming
the limit and a cheaper request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..config import EmbedOptions
from ..types import InputReport
from .errors import ApiError


def vector_width(options: EmbedOptions, num_layers: int, hidden: int) -> int:
    """Numbers per token (or per sentence, or per window) vector.

    >>> vector_width(EmbedOptions(level="token", layers=(1, 2), combine="concat"), 6, 384)
    768
    >>> vector_width(EmbedOptions(level="hidden_states"), 6, 384)
    2688
    >>> vector_width(EmbedOptions(level="sentence", dimensions=64), 6, 384)
    64
    """
    if options.level == "hidden_states":
        return (num_layers + 1) * hidden
    if options.level == "sentence" and options.pooling in ("first_last_avg", "pooler"):
        width = hidden
    else:
        spec = options.layers
        k = num_layers + 1 if spec == "all" else len(spec) if isinstance(spec, tuple) else 1
        width = k * hidden if options.combine in ("concat", "stack") else hidden
    if options.dimensions is not None and options.combine != "stack":
        width = min(width, options.dimensions)
    return width


def output_floats(
    options: EmbedOptions, n_inputs: int, reports: Sequence[InputReport], info: Any
) -> int:
    """Numbers in the answer: vectors (one per input, per window, or per token: an upper bound
    for words) and attention maps (layers x heads x T x T per input)."""
    width = vector_width(options, info.num_layers, info.hidden_size)
    if options.level == "sentence":
        return n_inputs * width
    if options.level == "window":
        return sum(r.n_windows for r in reports) * width
    total = sum(r.n_tokens for r in reports) * width
    if options.attentions:
        total += sum(r.n_tokens**2 for r in reports) * info.num_layers * info.num_heads
    return total


def check(floats: int, limit: int, options: EmbedOptions) -> None:
    if floats <= limit:
        return
    cheaper = (
        "attentions=false or fewer, shorter inputs"
        if options.attentions
        else "level='sentence', fewer layers (or combine='mean'), or fewer inputs per request"
    )
    raise ApiError(
        413,
        f"the answer would hold {floats:,} numbers; the limit is {limit:,} per request "
        f"(--max-output-floats); ask for less: {cheaper}",
        code="response_too_large",
    )
