"""Masked-LM domain adaptation: `bertex tune mlm` on the Python standard library's docstrings,
from the default model (which has no masked-LM head: one is made from its tied embeddings).
It runs in `make bench` (bench/run_all.py); by hand:

    python bench/mlm_bench.py                 # ~240 training blocks of 128 tokens, 2 epochs
    python bench/mlm_bench.py --train-docs 400 --epochs 1   # a quicker look

Corpus: every docstring paragraph (>= 80 characters) of the running Python's standard
library (read with ast from its own files, nothing copied into the repo), shuffled with a
fixed seed and split into a held-out part (never trained on) and a training part.
Reported: held-out masked-token accuracy and perplexity before tuning (the made head) and
after each epoch, under one fixed masking (the tune job's own dev evaluation, seed 42), the
wall time, and `bertex fill` on docstring-style sentences before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpora  # noqa: E402

SENTENCES = (  # docstring-style sentences and the word a reader expects at the mask
    ("Return True if the path is an existing [MASK].", "directory"),
    ("Raise KeyError if the [MASK] is not found.", "key"),
    ("If the optional argument is omitted, the default [MASK] is used.", "value"),
)


def docstring_paragraphs() -> list[str]:
    """Docstring paragraphs of the stdlib's top-level modules and packages, sorted files."""
    lib = Path(os.__file__).parent
    files = [
        f
        for f in sorted(lib.glob("*.py")) + sorted(lib.glob("*/*.py"))
        if "test" not in f.parent.name and "site-packages" not in str(f)
    ]
    return [
        text
        for text in corpora.docstring_paragraphs(files)
        if 80 <= len(text) <= 1000 and not text.startswith(">>>")
    ]


def split(docs: list[str], held: int, train: int, seed: int = 0) -> tuple[list[str], list[str]]:
    docs = sorted(set(docs))
    random.Random(seed).shuffle(docs)
    return docs[held : held + train], docs[:held]


def before_folder(folder: Path) -> tuple[Path, float, float, int]:
    """The default model with the head bertex makes for it, saved (so `fill` runs on it), and
    its held-out accuracy and perplexity under the tune job's dev masking."""
    from bertex.models.source import DEFAULT_MODEL, resolve

    src = resolve(DEFAULT_MODEL).folder
    from bertex.tune.mlm_model import load_for_mlm

    mlm, _ = load_for_mlm(src)
    mlm.save_pretrained(str(folder))
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(src)).save_pretrained(str(folder))
    return folder, *_score(mlm, src)


def _score(mlm: object, tok_folder: Path) -> tuple[float, float, int]:
    from transformers import AutoTokenizer

    from bertex.tune.mlm_data import DEV_EPOCH, MaskedBlocks, blocks_of, spec_of
    from bertex.tune.mlm_model import SparseMLM, evaluate

    tok = AutoTokenizer.from_pretrained(str(tok_folder))
    blocks = blocks_of(HELD, tok, LENGTH)
    data = MaskedBlocks(blocks, spec_of(tok, len(tok)), 42, DEV_EPOCH, tok.pad_token_id)
    s = evaluate(SparseMLM(mlm), data, 16)  # type: ignore[arg-type]
    return s.accuracy, s.perplexity, s.tokens


def fills(folder: Path) -> list[str]:
    """Per sentence: the top 3, and the expected word's rank and probability."""
    import bertex

    model = bertex.load(folder)
    out = []
    vocab = model.tokenizer.hf.vocab_size
    for (_, want), f in zip(SENTENCES, model.fill([s for s, _ in SENTENCES], k=vocab)):
        ranked = f.masks[0].candidates
        top = ", ".join(f"{c.word} {c.probability:.3f}" for c in ranked[:3])
        rank = next((i for i, c in enumerate(ranked) if c.word == want), None)
        if rank is not None:
            top += f"; *{want}*: rank {rank + 1:,}, {ranked[rank].probability:.4f}"
        out.append(top)
    return out


HELD: list[str] = []
LENGTH = 128


def main() -> None:
    global HELD, LENGTH
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-docs", type=int, default=600, help="training paragraphs")
    ap.add_argument("--held-docs", type=int, default=100, help="held-out paragraphs")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--length", type=int, default=128, help="tokens per packed block")
    ap.add_argument("--lr", type=float, default=4e-4)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import bertex
    from bertex.models.hf import quiet_transformers

    quiet_transformers()
    LENGTH = args.length
    train, HELD = split(docstring_paragraphs(), args.held_docs, args.train_docs)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (tmp / "held.txt").write_text("\n".join(HELD) + "\n", encoding="utf-8")
    before, acc0, ppl0, n_masked = before_folder(tmp / "before")
    fills_before = fills(before)
    t0 = time.perf_counter()
    result = bertex.tune(
        "mlm", train=str(tmp / "train.txt"), dev=str(tmp / "held.txt"), out=str(tmp / "after"),
        epochs=args.epochs, batch_size=16, lr=args.lr, max_length=args.length, quiet=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    rec = result.record
    from transformers import AutoModelForMaskedLM

    reloaded = AutoModelForMaskedLM.from_pretrained(str(result.out))
    acc_r, ppl_r, _ = _score(reloaded, result.out)  # the written folder, scored again
    fills_after = fills(result.out)
    rows = [f"| before (head from tied embeddings) | - | {acc0:.4f} | {ppl0:,.1f} |"]
    for e in rec["epochs"]:
        m = e["metrics"]
        rows.append(
            f"| after epoch {e['epoch']} | {e['step']} | {m['accuracy']:.4f} | "
            f"{m['perplexity']:,.1f} |"
        )
    blocks = rec["data"]["train"]["rows"] if "data" in rec else "?"
    print(
        f"Python {sys.version.split()[0]} stdlib docstrings: {len(train):,} training paragraphs "
        f"({blocks} blocks of {args.length} tokens), {len(HELD)} held-out paragraphs "
        f"({n_masked:,} masked tokens, one fixed masking); {args.epochs} epochs, batch 16, "
        f"lr {args.lr:g}, {rec['precision']} on {rec['device']}; `bertex tune mlm` wall "
        f"{wall:.0f} s (training {rec['wall_seconds']:.0f} s)\n"
    )
    print("| model | steps | held-out masked-token accuracy | perplexity |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"\nThe written folder reloaded with AutoModelForMaskedLM: accuracy {acc_r:.4f}, "
        f"perplexity {ppl_r:,.1f} (kept epoch {rec['kept_epoch']}).\n"
    )
    print("`bertex fill` before -> after (the top 3; the expected word's rank and probability):\n")
    print("| sentence | before | after |")
    print("|---|---|---|")
    for (s, _), b, a in zip(SENTENCES, fills_before, fills_after):
        print(f"| {s} | {b} | {a} |")
    (tmp / "result.json").write_text(json.dumps({"before": [acc0, ppl0], "record": rec}))


if __name__ == "__main__":
    main()
