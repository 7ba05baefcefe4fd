"""The masked-LM model of a checkpoint, and its masked-token accuracy and perplexity.

A checkpoint without a masked-LM head (a sentence-transformers folder such as the default
model) gets one built from its own word embeddings: the output projection is tied to them (as
BERT's is), the transform starts as the identity and the output bias at zero, so the head
scores a hidden state by its similarity to each token's embedding from the first step instead
of by random weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MissingHeadError

HEAD_NOTE = (
    "the checkpoint has no masked-LM head: one was initialised from its tied word embeddings "
    "(identity transform, zero bias)"
)


def load_for_mlm(folder: Path) -> tuple[Any, str | None]:
    """(AutoModelForMaskedLM in train mode, the note when a head was made), float32."""
    from transformers import AutoModelForMaskedLM

    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            str(folder), output_loading_info=True, dtype="float32"
        )
    except ValueError as e:
        raise MissingHeadError(f"{folder}: no masked-LM model of this architecture ({e})") from None
    prefix = f"{model.base_model_prefix}."
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(prefix))
    if not missing:
        return model, None
    init_head(model, missing)
    return model, HEAD_NOTE


def init_head(model: Any, missing: list[str]) -> None:
    """Identity for square weights, ones for norm weights, zeros for biases; an untied output
    projection gets a copy of the input embeddings."""
    import torch

    params = dict(model.named_parameters(remove_duplicate=False))
    out = model.get_output_embeddings()
    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        for name in missing:
            p = params.get(name)
            if p is None:
                continue
            if out is not None and p is out.weight:
                if p is not emb:
                    p.copy_(emb)
            elif name.endswith("bias"):
                p.zero_()
            elif p.dim() == 1:
                p.fill_(1.0)  # a LayerNorm's scale
            elif p.dim() == 2 and p.shape[0] == p.shape[1]:
                p.copy_(torch.eye(p.shape[0]))  # (H, H) transform: identity
    model.tie_weights()


@dataclass(frozen=True)
class MlmScore:
    """Masked-token accuracy and perplexity (exp of the mean cross-entropy) over the predicted
    tokens of a fixed masking."""

    accuracy: float
    perplexity: float
    loss: float
    tokens: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "accuracy": self.accuracy,
            "perplexity": self.perplexity,
            "loss": self.loss,
            "tokens": self.tokens,
        }


def evaluate(model: Any, data: Any, batch_size: int = 16, device: Any = "cpu") -> MlmScore:
    """Score `data` (mlm_data.MaskedBlocks) in eval mode; the caller's mode is restored."""
    import torch

    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = data.batch(range(start, min(start + batch_size, len(data))))
            t = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
            logits = model(input_ids=t["input_ids"], attention_mask=t["attention_mask"]).logits
            labels = t["labels"]  # (B, T), -100 where nothing is predicted
            sel = labels != -100
            picked = logits[sel].float()  # (M, V)
            total_loss += float(
                torch.nn.functional.cross_entropy(picked, labels[sel], reduction="sum")
            )
            correct += int((picked.argmax(-1) == labels[sel]).sum())
            count += int(sel.sum())
    model.train(was_training)
    loss = total_loss / max(count, 1)
    return MlmScore(correct / max(count, 1), math.exp(min(loss, 50.0)), loss, count)
