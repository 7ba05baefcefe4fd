"""Dev-set scores of the task models, each in [0, 1] (printed as such, kept in training.json).

classify   accuracy and macro-F1 (single-label); subset accuracy, micro- and macro-F1 at a 0.5
           threshold (multi-label)
tag        entity precision, recall and F1 by seqeval's default (conlleval) rules, plus token
           accuracy; files whose tags are not BIO (POS tags) get token accuracy only
qa         exact match and token F1 after SQuAD's answer normalisation, best over the gold
           answers; a question with no answer scores 1 only for an empty prediction
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence

import numpy as np


def classify_scores(gold: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """gold, pred (N,) label ids -> accuracy, macro-F1 (over labels seen in either).

    >>> classify_scores(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    {'accuracy': 0.75, 'macro_f1': 0.7333333333333334}
    """
    from sklearn.metrics import f1_score

    acc = float((gold == pred).mean()) if len(gold) else 0.0
    return {"accuracy": acc, "macro_f1": float(f1_score(gold, pred, average="macro"))}


def multilabel_scores(gold: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """gold (N, L) 0/1, logits (N, L) -> subset accuracy, micro- and macro-F1 at sigmoid 0.5."""
    from sklearn.metrics import f1_score

    pred = (logits > 0).astype(int)  # sigmoid(z) > 0.5  <=>  z > 0
    gold = gold.astype(int)
    kw = {"zero_division": 0}
    return {
        "accuracy": float((pred == gold).all(axis=1).mean()),
        "micro_f1": float(f1_score(gold, pred, average="micro", **kw)),
        "macro_f1": float(f1_score(gold, pred, average="macro", **kw)),
    }


_BIO = re.compile(r"^(O|[BIES]-.+)$")


def is_bio(labels: Sequence[str]) -> bool:
    """Whether tags read as entity tags (O, B-X, I-X; E-/S- too): entity scores apply."""
    return any(t != "O" for t in labels) and all(_BIO.match(t) for t in labels)


def tag_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Word tags per sentence -> token accuracy and, for BIO tags, entity P/R/F1 (seqeval).

    >>> tag_scores([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "B-LOC"]])["f1"]
    0.6666666666666666
    """
    n = sum(len(s) for s in gold)
    hits = sum(g == p for gs, ps in zip(gold, pred) for g, p in zip(gs, ps))
    out = {"token_accuracy": hits / n if n else 0.0}
    if not is_bio(sorted({t for s in gold for t in s} | {t for s in pred for t in s})):
        return out
    from seqeval.metrics import f1_score, precision_score, recall_score

    g, p = [list(s) for s in gold], [list(s) for s in pred]
    kw = {"zero_division": 0}
    out["precision"] = float(precision_score(g, p, **kw))
    out["recall"] = float(recall_score(g, p, **kw))
    out["f1"] = float(f1_score(g, p, **kw))
    return out


def normalize_answer(s: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces.

    >>> normalize_answer("The  Eiffel-Tower!")
    'eiffeltower'
    """
    s = "".join(c for c in s.lower() if c not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _f1(gold: str, pred: str) -> float:
    g, p = normalize_answer(gold).split(), normalize_answer(pred).split()
    if not g or not p:
        return float(g == p)
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def qa_scores(gold: Mapping[str, Sequence[str]], pred: Mapping[str, str]) -> dict[str, float]:
    """gold: question id -> answer texts ([] = no answer); pred: id -> text ("" = none).

    >>> qa_scores({"q1": ["Paris"], "q2": []}, {"q1": "paris.", "q2": "Rome"})
    {'exact_match': 0.5, 'f1': 0.5}
    """
    em = f1 = 0.0
    for qid, answers in gold.items():
        texts = list(answers) or [""]
        guess = pred.get(qid, "")
        em += max(float(normalize_answer(t) == normalize_answer(guess)) for t in texts)
        f1 += max(_f1(t, guess) for t in texts)
    n = max(len(gold), 1)
    return {"exact_match": em / n, "f1": f1 / n}
