"""Text for people, and JSON records for machines, from library results."""

from __future__ import annotations

from typing import Any

import numpy as np


def preview(v: np.ndarray, n: int) -> str:
    flat = np.asarray(v, dtype=np.float32).reshape(-1)
    shown = " ".join(f"{x:+.4f}" for x in flat[:n])
    return f"[{shown}{' ...' if flat.size > n else ''}]"


def human_results(result: Any, n: int) -> str:
    if not isinstance(result, list) and result.kind == "sentence":
        return _human_sentences(result, n)
    items = result if isinstance(result, list) else [result]
    out = [_human_item(i, r, n) for i, r in enumerate(items)]
    return "\n".join(out) + _summary([r.report for r in items], items[0].meta)


def _human_windows(i: int, r: Any, n: int) -> str:
    lines = [f"input {i}: {len(r)} windows, vectors {r.shape} {r.vectors.dtype}{_flags(r.report)}"]
    for j, ((s, e), v) in enumerate(zip(r.spans.tolist(), r.vectors)):
        piece = r.text[s:e]
        shown = piece if len(piece) <= 40 else piece[:18] + " ... " + piece[-17:]
        lines.append(f"  {j:>4}  {s:>6}:{e:<6} {shown!r} {preview(v, n)}")
    return "\n".join(lines)


def _human_item(i: int, r: Any, n: int) -> str:
    if r.kind == "window":
        return _human_windows(i, r, n)
    lines = [f"input {i}: {r.text!r}" + (f" + {r.text_pair!r}" if r.text_pair else "")]
    what = "words" if r.kind == "word" else "tokens"
    names = getattr(r, what)
    lines.append(f"  {len(names)} {what}, vectors {r.shape} {r.vectors.dtype}{_flags(r.report)}")
    vecs = r.vectors if r.vectors.ndim == 2 else r.vectors.transpose(1, 0, 2)
    seqs = r.sequence_ids.tolist()
    for j, (name, (s, e), seq) in enumerate(zip(names, r.offsets.tolist(), seqs)):
        source = (r.text_pair if seq == 1 else r.text)[s:e]
        if "UNK" in name or "unk" in name:
            name = f"{name} {source!r}"  # show what the unknown token stands for
        lines.append(f"  {j:>4}  {name:<16} {s:>5}:{e:<5} {preview(vecs[j], n)}")
    if r.kind == "token" and r.attentions is not None:
        lines.append(f"  attentions {tuple(r.attentions.shape)} (layers, heads, tokens, tokens)")
    return "\n".join(lines)


def _human_sentences(result: Any, n: int) -> str:
    lines = []
    for i, (t, v, rep) in enumerate(zip(result.texts, result.vectors, result.reports)):
        lines.append(f"input {i}: {t!r} ({rep.n_tokens} tokens{_flags(rep)})")
        lines.append(f"  {preview(v, n)}")
    lines.insert(
        0,
        f"sentence vectors {result.shape} {result.vectors.dtype}, pooling="
        f"{result.meta.pooling} ({result.meta.pooling_source}), normalize="
        f"{result.meta.normalize}",
    )
    return "\n".join(lines + _similarities(result.vectors)) + _summary(result.reports, result.meta)


def _similarities(vectors: np.ndarray, most: int = 8) -> list[str]:
    """Cosine similarity of every pair of inputs, for a handful of flat vectors."""
    if vectors.ndim != 2 or not 2 <= len(vectors) <= most:
        return []
    unit = vectors.astype(np.float32)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T  # (N, N)
    lines = ["cosine similarity:"]
    lines += [
        "  " + " ".join(f"{x:+.3f}" for x in row) + f"   input {i}" for i, row in enumerate(sim)
    ]
    return lines


def _flags(rep: Any) -> str:
    flags = []
    if rep.windowed:
        flags.append(f"windowed x{rep.n_windows}")
    if rep.truncated:
        flags.append("TRUNCATED")
    if rep.unk_count:
        flags.append(f"{rep.unk_count} [UNK], {rep.unk_chars}/{rep.n_chars} chars")
    return f", {', '.join(flags)}" if flags else ""


def _summary(reports: Any, meta: Any) -> str:
    reports = list(reports)
    windowed = sum(r.windowed for r in reports)
    truncated = sum(r.truncated for r in reports)
    unk = sum(r.unk_count for r in reports)
    return (
        f"\n{len(reports)} inputs, {sum(r.n_tokens for r in reports)} tokens, {windowed} windowed, "
        f"{truncated} truncated, {unk} unknown tokens; model {meta.model} "
        f"(sha256 {meta.weights_sha256[:12]}), layers {list(meta.layers)}, level {meta.level}\n"
    )


def result_record(i: int, r: Any) -> dict:
    rec: dict[str, Any] = {"index": i, "text": r.text}
    if r.text_pair is not None:
        rec["text_pair"] = r.text_pair
    rec.update(r.layout())
    rec["vectors"] = r.vectors.astype(np.float32).tolist()
    if r.kind == "token" and r.attentions is not None:
        rec["attentions"] = r.attentions.tolist()
    rec["report"] = r.report.to_dict()
    rec["meta"] = r.meta.to_dict()
    return rec
