"""The data behind the attention views: one embed call with attentions, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import EmptyInputError, ModelError

Long = Literal["error", "truncate"]


@dataclass(frozen=True)
class AttentionView:
    """Attention maps of one input (one window), with what the tokens are."""

    text: str
    text_pair: str | None
    tokens: tuple[str, ...]
    special: tuple[bool, ...]  # (T,) [CLS], [SEP], ...
    unk: tuple[bool, ...]  # (T,) the tokenizer's unknown token
    maps: np.ndarray  # (layers, heads, T, T) float32, rows sum to 1
    model: str
    window: str  # what part of the text is shown, in words

    @property
    def layers(self) -> int:
        return int(self.maps.shape[0])

    @property
    def heads(self) -> int:
        return int(self.maps.shape[1])

    def to_dict(self, decimals: int = 3) -> dict[str, Any]:
        """JSON-ready: maps rounded to `decimals` to keep the page small."""
        return {
            "text": self.text,
            "text_pair": self.text_pair,
            "tokens": list(self.tokens),
            "special": list(self.special),
            "unk": list(self.unk),
            "maps": np.round(self.maps.astype(np.float64), decimals).tolist(),
            "model": self.model,
            "window": self.window,
            "layers": self.layers,
            "heads": self.heads,
        }


def attention_view(
    model: Any, text: str, pair: str | None = None, long: Long = "error"
) -> AttentionView:
    """Embed `text` (and `pair`) once with attention maps.

    long="error" refuses a text longer than one window (the library names the limit);
    long="truncate" shows the first window and says so in `window`.
    """
    if not text.strip():
        raise EmptyInputError("the text is empty: attention needs at least one token", 0)
    kw: dict[str, Any] = {"level": "token", "attentions": True}
    if long == "truncate":
        kw["long"] = "truncate"
    res = model.embed(text, pair, **kw)  # one TokenEmbedding: maps (layers, heads, T, T)
    if res.attentions is None:  # a backend or export that does not return them
        raise ModelError(
            f"the {model.backend.name} backend gave no attention maps for {res.meta.model}; "
            "load the model with backend='torch' (--backend torch) to see them"
        )
    unk_token = model.tokenizer.unk_token
    rep = res.report
    window = (
        f"first window only: {len(res.tokens)} of {rep.n_tokens} tokens (truncated)"
        if rep.truncated
        else f"the whole text: {len(res.tokens)} tokens, one window"
    )
    return AttentionView(
        text=text,
        text_pair=pair,
        tokens=tuple(res.tokens),
        special=tuple(bool(s) for s in res.special_mask),
        unk=tuple(t == unk_token for t in res.tokens),
        maps=np.asarray(res.attentions, dtype=np.float32),
        model=str(res.meta.model),
        window=window,
    )
