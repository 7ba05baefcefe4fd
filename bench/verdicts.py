"""The targets BENCHMARKS.md checks on each run (issues 4, 14 and 29): pure functions of the
speed bench's JSON documents, rendered as Markdown tables."""

from __future__ import annotations


def verdict(docs: dict[str, dict | None]) -> str:
    """The issue's targets, checked against this run's medians, one column per corpus."""
    checks = [
        ("fp32 >= 1.25x sentence-transformers", "exact", "st", 1.25),
        ("fastest passing mode >= 3x sentence-transformers", "fastest", "st", 3.0),
        ("fastest passing mode >= 6x tutorial loop", "fastest", "tut", 6.0),
    ]
    lines = ["| target | " + " | ".join(docs) + " |", "|---|" + "---|" * len(docs)]
    for label, which, peer, goal in checks:
        cells = []
        for doc in docs.values():
            got = _ratio(doc, which, peer) if doc else None
            if got is None:
                cells.append("-")
                continue
            path, ratio = got
            cells.append(f"{path}: {ratio:.2f}x, {'met' if ratio >= goal else '**not met**'}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(doc: dict, which: str, peer: str) -> tuple[str, float] | None:
    by = {r["path"]: r for r in doc["rows"] if "sent_s" in r}
    name = "sentence-transformers encode" if peer == "st" else "tutorial loop"
    base = by.get(name, {}).get("sent_s")
    if not base:
        return None
    if which == "exact":
        pool = [r for p, r in by.items() if p.startswith("bertex") and p.endswith("fp32")]
    else:  # the quality gates: cosine to fp32 >= 0.99 mean and >= 0.97 min
        pool = [
            r
            for p, r in by.items()
            if p.startswith("bertex")
            and r.get("cos_mean", 0) >= 0.99
            and r.get("cos_min", 0) >= 0.97
        ]
    if not pool:
        return None
    best = max(pool, key=lambda r: r["sent_s"])
    return best["path"], best["sent_s"] / base


def passes(row: dict, fp32_rho: float | None, rho: float | None) -> bool:
    """Issue 14's quality gates: cosine to fp32 >= 0.99 mean, >= 0.97 min, and the path's
    STS-B dev Spearman within 0.005 of the fp32 reference's."""
    cos_ok = row.get("cos_mean", 0) >= 0.99 and row.get("cos_min", 0) >= 0.97
    return cos_ok and fp32_rho is not None and rho is not None and abs(rho - fp32_rho) <= 0.005


def verdict_peers(docs: dict[str, dict | None], sts: dict | None, exact_goal: float = 1.0) -> str:
    """Issue 14's targets: bertex's fastest passing mode >= 1.25x the fastest passing peer;
    bertex's fastest exact path >= every exact peer (issue 29's: >= 1.05x, `exact_goal`).
    One column per corpus."""
    rhos = {r["path"]: r.get("spearman") for r in (sts or {}).get("rows", []) if "sent_s" in r}
    fp32_rho = rhos.get("bertex torch fp32")
    lines = ["| target | " + " | ".join(docs) + " |", "|---|" + "---|" * len(docs)]
    times = f"{exact_goal:.2f}x " if exact_goal != 1.0 else ""
    for label, exact, goal in (
        ("fastest passing bertex >= 1.25x fastest passing peer", False, 1.25),
        (f"fastest exact bertex >= {times}fastest exact peer", True, exact_goal),
    ):
        cells = []
        for doc in docs.values():
            rows = [r for r in (doc or {}).get("rows", []) if "sent_s" in r]
            if exact:
                pool = [r for r in rows if r.get("exact")]
            else:
                pool = [r for r in rows if passes(r, fp32_rho, rhos.get(r["path"]))]
            ours = max((r for r in pool if not r["peer"]), key=_speed, default=None)
            theirs = max((r for r in pool if r["peer"]), key=_speed, default=None)
            if not ours or not theirs:
                cells.append("-")
                continue
            ratio = ours["sent_s"] / theirs["sent_s"]
            cells.append(
                f"{ours['path']} {ratio:.2f}x {theirs['path']}: "
                f"{'met' if ratio >= goal else '**not met**'}"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _speed(row: dict) -> float:
    return row["sent_s"]
