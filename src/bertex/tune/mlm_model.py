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

import torch

from ..errors import NoTaskHeadError

HEAD_NOTE = (
    "the checkpoint has no masked-LM head: one was initialised from its tied word embeddings "
    "(identity transform, zero bias)"
)


def load_for_mlm(folder: Path) -> tuple[Any, str | None]:
    """(AutoModelForMaskedLM in train mode, the note when a head was made), float32."""
    from transformers import AutoModelForMaskedLM

    from ..models.hf import quiet_transformers

    quiet_transformers()
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            str(folder), output_loading_info=True, dtype="float32"
        )
    except ValueError as e:
        raise NoTaskHeadError(f"{folder}: no masked-LM model of this architecture ({e})") from None
    prefix = f"{model.base_model_prefix}."
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(prefix))
    if not missing:
        return model, None
    init_head(model, missing)
    return model, HEAD_NOTE


def init_head(model: Any, missing: list[str]) -> None:
    """Identity for square weights, ones for norm weights, zeros for biases; an untied output
    projection gets a copy of the input embeddings."""

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


SPARSE_HEADS = {  # model_type -> the head module that maps (M, H) states to (M, V) scores
    "bert": "cls",
    "roberta": "lm_head",
    "xlm-roberta": "lm_head",
    "camembert": "lm_head",
    "albert": "predictions",
    "mpnet": "lm_head",
}


class SparseMLM(torch.nn.Module):
    """The masked-LM model, scoring only the predicted positions. The vocabulary projection
    (H x V, 30k tokens) costs about as much as the whole encoder at every position, and 85%
    of the positions predict nothing; transformers' forward scores them all. Other model types
    run the model's own forward (the same loss, slower)."""

    def __init__(self, mlm: Any) -> None:
        super().__init__()
        self.mlm = mlm
        name = SPARSE_HEADS.get(mlm.config.model_type)
        self.head = getattr(mlm, name) if name and hasattr(mlm, name) else None

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean loss, logits (M, V) and labels (M,) of the M predicted positions)."""
        sel = labels != -100  # (B, T)
        if self.head is None:
            out = self.mlm(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
            return out.loss, out.logits[sel], labels[sel]
        base = self.mlm.base_model(input_ids=input_ids, attention_mask=attention_mask)
        logits = self.head(base.last_hidden_state[sel])  # (B, T, H) -> (M, H) -> (M, V)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[sel])
        return loss, logits, labels[sel]


def evaluate(model: Any, data: Any, batch_size: int = 16, device: Any = "cpu") -> MlmScore:
    """Score `data` (mlm_data.MaskedBlocks) with a SparseMLM in eval mode (the caller's mode
    is restored)."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = data.batch(range(start, min(start + batch_size, len(data))))
            t = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
            loss, logits, labels = model(**t)  # (M, V), (M,)
            total_loss += float(loss) * len(labels)
            correct += int((logits.argmax(-1) == labels).sum())
            count += len(labels)
    model.train(was_training)
    loss = total_loss / max(count, 1)
    return MlmScore(correct / max(count, 1), math.exp(min(loss, 50.0)), loss, count)
