"""Fill-mask: the top-k tokens, with probabilities, for every mask in a text.

    text -> find masks ([MASK], <mask> or the model's own token) -> the model's own spelling
         -> tokenize -> masked-LM forward -> softmax at each mask -> top k

Each mask is predicted independently from one forward pass over the whole text (the other masks
stay masked), as transformers' fill-mask pipeline does. The masked-LM head is loaded once per
Model, from the same folder as its encoder; a checkpoint without one is refused with the way
to get one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import (
    EmptyInputError,
    InputError,
    InvalidTextError,
    NoTaskHeadError,
    OptionError,
    TooLongError,
)

SPELLINGS = ("[MASK]", "<mask>")  # either spelling works for any model
BATCH = 16
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Candidate:
    """One filler of one mask: the vocabulary piece, its id, its text and its probability."""

    token: str  # the piece as the vocabulary spells it ("paris", "Ġparis")
    token_id: int
    word: str  # the piece as text ("paris")
    probability: float


@dataclass(frozen=True)
class MaskFill:
    """One mask: its character span in the caller's text and its k best fillers, best first."""

    start: int
    end: int
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class Filled:
    """The fill-mask answer for one text."""

    text: str
    masks: tuple[MaskFill, ...]

    def best(self) -> str:
        """The text with every mask replaced by its most probable word."""
        out, last = [], 0
        for m in self.masks:
            out += [self.text[last : m.start], m.candidates[0].word]
            last = m.end
        return "".join([*out, self.text[last:]])

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "best": self.best(), "masks": [asdict(m) for m in self.masks]}


class MaskedLM:
    """A checkpoint's masked-LM model and tokenizer, ready to fill masks."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int, device: Any) -> None:
        self.model, self.tok, self.max_length, self.device = model, tokenizer, max_length, device
        own = tokenizer.mask_token
        spellings = sorted({*SPELLINGS, own}, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(s) for s in spellings))

    def fill(self, texts: list[str], k: int) -> list[Filled]:
        vocab = int(self.model.config.vocab_size)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= vocab:
            raise OptionError("k", k, [f"an integer from 1 to {vocab} (the vocabulary)"])
        spans = [self._masks(t, i) for i, t in enumerate(texts)]
        out: list[Filled] = []
        for start in range(0, len(texts), BATCH):
            chunk = range(start, min(start + BATCH, len(texts)))
            out += self._run([texts[i] for i in chunk], [spans[i] for i in chunk], k, start)
        return out

    def _masks(self, text: Any, index: int) -> list[tuple[int, int]]:
        if not isinstance(text, str):
            raise InvalidTextError(f"expected a string, got {type(text).__name__}", index)
        if not text.strip():
            raise EmptyInputError("empty text: nothing to fill", index)
        spans = [m.span() for m in self.pattern.finditer(text)]
        if not spans:
            raise InputError(
                f"no mask in the text: write [MASK] or <mask> (this model's own: "
                f"{self.tok.mask_token}) where a word is missing",
                index,
            )
        return spans

    def _own(self, text: str) -> str:
        return self.pattern.sub(self.tok.mask_token.replace("\\", "\\\\"), text)

    def _run(
        self, texts: list[str], spans: list[list[tuple[int, int]]], k: int, first: int
    ) -> list[Filled]:
        import torch

        enc = self.tok([self._own(t) for t in texts], padding=True, return_tensors="pt")
        lengths = enc["attention_mask"].sum(dim=1).tolist()
        for i, n in enumerate(lengths):
            if n > self.max_length:
                raise TooLongError(
                    int(n),
                    self.max_length,
                    first + i,
                    hint="fill reads one window: shorten the text around its masks",
                )
        is_mask = enc["input_ids"] == self.tok.mask_token_id  # (B, T)
        with torch.no_grad():
            logits = self.model(**{k_: v.to(self.device) for k_, v in enc.items()}).logits
        probs = torch.softmax(logits[is_mask.to(self.device)].float(), dim=-1)  # (M, V)
        top_p, top_id = probs.topk(k, dim=-1)  # (M, k) each, masks in text order, row-major
        rows = iter(zip(top_p.cpu().tolist(), top_id.cpu().tolist()))
        out = []
        for i, (text, where) in enumerate(zip(texts, spans)):
            found = int(is_mask[i].sum())
            if found != len(where):  # a tokenizer that splits or merges the mask token
                raise InputError(
                    f"{len(where)} masks written but the tokenizer read {found}", first + i
                )
            masks = [MaskFill(s, e, self._candidates(*next(rows))) for s, e in where]
            out.append(Filled(text, tuple(masks)))
        return out

    def _candidates(self, probs: list[float], ids: list[int]) -> tuple[Candidate, ...]:
        pieces = self.tok.convert_ids_to_tokens(ids)
        return tuple(
            Candidate(piece, i, self.tok.decode([i]).strip(), p)
            for p, i, piece in zip(probs, ids, pieces)
        )


def masked_lm_of(model: Any) -> MaskedLM:
    """The Model's masked LM, loaded on first use (once, also under the server's threads)."""
    with _LOCK:
        cached = getattr(model, "_masked_lm", None)
        if cached is None:
            device = getattr(model.backend, "device", "cpu")
            info = model.info
            cached = load_masked_lm(Path(info.path), info.name, info.max_length, model.tokenizer.hf)
            cached.model.to(device)
            cached.device = device
            model._masked_lm = cached
        return cached


def load_masked_lm(folder: Path, name: str, max_length: int, tok: Any) -> MaskedLM:
    """AutoModelForMaskedLM from the folder, with the Model's own tokenizer; NoTaskHeadError
    when the weights hold only the encoder (a random head's answers would be noise)."""
    from transformers import AutoModelForMaskedLM

    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            str(folder), output_loading_info=True, dtype="float32"
        )
    except ValueError as e:  # an architecture transformers has no masked-LM class for
        raise NoTaskHeadError(f"{name}: no masked-LM model of this architecture ({e})") from None
    prefix = f"{model.base_model_prefix}."
    head_missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(prefix))
    if head_missing:
        raise NoTaskHeadError(
            f"{name} has no masked-LM head (its weights hold the encoder only; missing "
            f"{', '.join(head_missing[:2])}): tune mlm first, or use a checkpoint that has one "
            f"(bertex tune mlm --model {name} --train CORPUS.txt --out DIR, then --model DIR)"
        )
    if tok.mask_token is None:
        raise NoTaskHeadError(f"{name}: the tokenizer has no mask token, so nothing can be filled")
    return MaskedLM(model.eval(), tok, max_length, "cpu")
