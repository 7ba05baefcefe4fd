"""bertex answer vs transformers 4.x's own question-answering pipeline (removed in 5.0), on one
QA folder: the same answers, offsets and scores, or the differences.

transformers 5 has no question-answering pipeline, so the test suite compares bertex with the
pipeline's rule rebuilt on 5.x's select_starts_ends. This script checks against the real
4.57.6 pipeline, installed beside the venv (never into it):

    pip install --target /tmp/tf4 --no-deps transformers==4.57.6 tokenizers==0.22.1 \
        huggingface_hub==0.36.0
    python bench/qa_pipeline_check.py QA_FOLDER --transformers4 /tmp/tf4

It runs the pipeline in a child process with /tmp/tf4 first on sys.path, runs bertex here, and
prints one line per case (contexts of one and of several windows, n-best, no-answer).
Run on 2026-12-07 with a tiny random BertForQuestionAnswering (tests/task_folders.py, scale 5):
6 cases, all answers and offsets equal, largest score difference 1.4e-08.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SHORT = "the man is riding a horse with unbelievably hard hat."
LONG = " ".join(
    [SHORT, "a child was playing guitar.", "the woman is eating on the cat.", SHORT] * 3
)
QUESTION = "who is riding the horse?"
CASES = [  # context, top_k, no answer, window, stride
    (SHORT, 1, False, None, None),
    (SHORT, 3, False, None, None),
    (LONG, 3, False, None, None),
    (LONG, 2, False, 32, 8),
    ("guitar", 2, True, None, None),
    (LONG, 3, True, None, None),
]


def pipeline_answers(folder: str) -> list:
    from transformers import pipeline

    pipe = pipeline("question-answering", model=folder)
    out = []
    for ctx, k, null, window, stride in CASES:
        kw = {"top_k": k, "handle_impossible_answer": null}
        if window:
            kw.update(max_seq_len=window, doc_stride=stride)
        found = pipe(question=QUESTION, context=ctx, **kw)
        found = found if isinstance(found, list) else [found]
        out.append([(a["answer"], a["start"], a["end"], a["score"]) for a in found])
    return out


def bertex_answers(folder: str) -> list:
    from bertex import tasks

    reader = tasks.load(folder)
    out = []
    for ctx, k, null, window, stride in CASES:
        kw = {"top_k": k, "no_answer": null}
        if window:
            kw.update(max_length=window, doc_stride=stride)
        out.append([(a.text, a.start, a.end, a.score) for a in reader.answer(QUESTION, ctx, **kw)])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--transformers4", required=True, help="a --target folder with 4.57.6")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(pipeline_answers(args.folder)))
        return 0
    env = {**os.environ, "PYTHONPATH": args.transformers4, "HF_HUB_OFFLINE": "1"}
    child = [sys.executable, __file__, args.folder, "--transformers4", args.transformers4]
    ran = subprocess.run([*child, "--child"], env=env, capture_output=True, text=True, check=True)
    want = json.loads(ran.stdout.strip().splitlines()[-1])
    got = bertex_answers(args.folder)
    worst = 0.0
    for case, w, g in zip(CASES, want, got, strict=True):
        same = [tuple(x[:3]) for x in w] == [tuple(x[:3]) for x in g]
        diff = max((abs(x[3] - y[3]) for x, y in zip(w, g)), default=0.0)
        worst = max(worst, diff)
        print(f"{'same' if same else 'DIFFERENT'}  {len(w)} answers  score diff {diff:.1e}  "
              f"context {len(case[0])} chars, top_k {case[1]}, no_answer {case[2]}")  # fmt: skip
        if not same:
            print(f"  pipeline {w}\n  bertex   {g}")
    print(f"largest score difference {worst:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
