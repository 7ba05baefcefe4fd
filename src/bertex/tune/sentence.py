"""What the sentence-embedding tasks (pairs, simcse) share: the scored-pair reader, the
sentence-transformers loss called on the Encoder (in-batch negatives gathered across
processes), and the dev scores: Spearman on scored pairs, recall@1 / MRR on unscored ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import DataFileError, ExtraMissingError
from .data import Table, number_of, pick_columns, read_table, text_of
from .encoder import Encoder, tokenize
from .runtime import gather_with_grad
from .task import Base, Metrics, Task, TaskData

A = ("text_a", "sentence1", "sentence_a", "anchor", "query", "text1")
B = ("text_b", "sentence2", "sentence_b", "positive", "text2", "document")
SCORE = ("score", "label", "similarity", "relatedness")
NEG = ("negative", "hard_negative", "text_c")
LOSSES = ("auto", "cosent", "cosine", "mnrl", "cached-mnrl")


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float | None = None  # scaled to [0, 1] by the stated range
    negative: str | None = None


def read_pairs(path: str, score_range: str) -> tuple[list[Pair], str]:
    """Scored pairs (a, b, score) or unscored (anchor, positive[, negative]); returns the
    rows and a sentence saying which, and the score range used."""
    table = read_table(path, A + B + SCORE + NEG)
    if _scored(table):
        a, b, s = pick_columns(table, [A, B, SCORE])
        assert a and b and s
        raw = [
            (
                text_of(table, n, r, a),
                text_of(table, n, r, b),
                number_of(table, n, r, s),
                n,
            )
            for n, r in table.rows
        ]
        lo, hi, said = _range(table, [x[2] for x in raw], score_range)
        for _, _, score, n in raw:
            if not lo <= score <= hi:
                raise DataFileError(
                    table.path,
                    n,
                    f"score {score:g} is outside the range {lo:g}..{hi:g} "
                    "(--score-range LO,HI states another)",
                )
        rows = [Pair(x[0], x[1], (x[2] - lo) / (hi - lo)) for x in raw]
        return rows, f"{table.path.name}: {len(rows)} scored pairs, scores {said}"
    a, b, neg = pick_columns(table, [A, B, NEG], optional=1)
    assert a and b
    rows = [
        Pair(
            text_of(table, n, r, a),
            text_of(table, n, r, b),
            None,
            text_of(table, n, r, neg) if neg else None,
        )
        for n, r in table.rows
    ]
    kind = "(anchor, positive, negative) triplets" if neg else "(anchor, positive) pairs"
    return rows, f"{table.path.name}: {len(rows)} unscored {kind}"


def _scored(table: Table) -> bool:
    if table.named:
        return any(c in table.columns for c in SCORE)
    if len(table.columns) < 3:
        return False
    try:
        float(table.rows[0][1]["2"])
        return True
    except (TypeError, ValueError):
        return False


def _range(table: Table, scores: list[float], stated: str) -> tuple[float, float, str]:
    if stated != "auto":
        try:
            lo, hi = (float(x) for x in stated.split(","))
        except ValueError:
            raise DataFileError(
                table.path, None, f"--score-range {stated!r} is not LO,HI"
            ) from None
        if not lo < hi:
            raise DataFileError(table.path, None, f"--score-range {stated!r}: LO must be < HI")
        return lo, hi, f"in {lo:g}..{hi:g} (stated)"
    top, low = max(scores), min(scores)
    for lo, hi in ((0.0, 1.0), (0.0, 5.0), (-1.0, 1.0)):
        if lo <= low and top <= hi:
            return (
                lo,
                hi,
                f"in {lo:g}..{hi:g} (found; --score-range LO,HI states another)",
            )
    raise DataFileError(
        table.path,
        None,
        f"scores run from {low:g} to {top:g}, outside 0..1, 0..5 and -1..1; "
        "state the range with --score-range LO,HI",
    )


def st_loss(name: str, model: Any, mini_batch: int, world: int) -> Any:
    """A sentence-transformers loss object. The non-cached ones are used through
    compute_loss_from_embeddings (no model needed); the cached one calls the model itself."""
    try:
        from sentence_transformers.sentence_transformer import losses
    except ImportError as e:  # pragma: no cover - the tune extra installs it
        raise ExtraMissingError("tune", "sentence-transformers", "bertex tune pairs") from e
    if name == "cosent":
        return losses.CoSENTLoss(model)
    if name == "cosine":
        return losses.CosineSimilarityLoss(model)
    if name == "mnrl":
        return losses.MultipleNegativesRankingLoss(model)
    # its constructor looks for a StaticEmbedding at model[0]; the Encoder has none: give it
    # a stand-in, then the model it calls (as `model(features)["sentence_embedding"]`)
    cached = losses.CachedMultipleNegativesRankingLoss(
        torch.nn.Sequential(torch.nn.Identity()),  # type: ignore[arg-type]
        mini_batch_size=mini_batch,
        gather_across_devices=world > 1,
    )
    cached.model = model
    return cached


def pair_loss(
    loss: Any, model: Any, features: list[dict[str, torch.Tensor]], labels: torch.Tensor
) -> torch.Tensor:
    """Embed the columns in one forward pass, gather every process's rows, and compute the
    loss over the global batch (see runtime.gather_with_grad for why that is exact)."""
    from sentence_transformers.base.losses.merged_forward import embed_columns

    if hasattr(loss, "forward_cached"):  # CachedMNRL runs its own mini-batched forwards
        return loss(features, labels)
    embeddings = embed_columns(model, features, separate_first=False)  # [(B, H)] per column
    embeddings = [gather_with_grad(e) for e in embeddings]  # [(world*B, H)]
    labels = _gather(labels)
    return loss.compute_loss_from_embeddings(embeddings, labels)


def _gather(x: torch.Tensor) -> torch.Tensor:
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return x
    parts = [torch.empty_like(x) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(parts, x)
    return torch.cat(parts)


def encode(model: Encoder, base: Base, texts: Sequence[str], batch: int = 64) -> np.ndarray:
    """(N, H) float32 sentence vectors in eval mode, longest first to pad little."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    device = next(model.parameters()).device
    out = np.zeros((len(texts), model.transformer.config.hidden_size), dtype=np.float32)
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        feats = {k: v.to(device) for k, v in tokenize(base, [texts[i] for i in idx]).items()}
        out[idx] = model(feats)["sentence_embedding"].float().cpu().numpy()
    return out


def evaluate_pairs(model: Encoder, base: Base, rows: Sequence[Pair]) -> Metrics:
    """Spearman x 1 of cosine vs gold on scored rows; recall@1 and MRR of each anchor's
    positive among every dev positive on unscored ones."""
    from ..analysis.sts import row_cosine, spearman

    a = encode(model, base, [r.a for r in rows])
    b = encode(model, base, [r.b for r in rows])
    if rows[0].score is not None:
        rho = spearman(row_cosine(a, b), np.array([r.score for r in rows]))
        return Metrics({"spearman": rho}, "spearman")
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    sims = a @ b.T  # (N, N): anchor i against every positive
    rank = (sims > np.diag(sims)[:, None]).sum(axis=1)  # 0 = its own positive is first
    return Metrics(
        {"recall@1": float((rank == 0).mean()), "mrr": float((1 / (rank + 1)).mean())},
        "mrr",
    )


class EncoderTask(Task):
    """The part of pairs and simcse that is the same: the model is the base's Encoder, saved
    with its sentence-transformers modules; `loss_label` names the loss in training.json."""

    loss_label = ""

    def build(self, base: Base, data: TaskData) -> torch.nn.Module:
        self.base = base
        return Encoder.from_base(base)

    def save(self, model: torch.nn.Module, base: Base, folder: Any) -> None:
        assert isinstance(model, Encoder)
        model.save(base, folder)

    def describe(self) -> dict[str, Any]:
        return {
            "loss": self.loss_label,
            "pooling": self.base.pooling,
            "normalize": self.base.normalize,
        }
