"""Calibrated int8 behind a quality gate: `bertex.load(..., precision="int8", calibrate=texts)`.

    sample ─► checked, deduplicated, shuffled (seeded) ─► calibration part | held-out part
    calibration part ─► static int8 model (backends/static_int8.py, cached on disk)
    held-out part ─► embedded by the fp32 and the int8 model ─► cosine, mean and min
    both at or above the gate (default 0.99 / 0.97) ─► the int8 model runs
    else ─► the fp32 model runs, and a PrecisionWarning says why

The held-out texts are never calibrated on, so the gate measures how the int8 model does on
text it has not seen. The gate's figures (or the reason for the fallback) are recorded as
`meta.quantization` on every result, and so in every file bertex writes.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import (
    BertexWarning,
    GateWarning,
    InvalidTextError,
    LongInputWarning,
    OptionError,
    UnknownTokenWarning,
    WeakPoolingWarning,
)
from .tokenize import check_text
from .types import SentenceEmbeddings

if TYPE_CHECKING:
    from .api import Model
    from .backends import Backend

MIN_TEXTS = 32  # distinct non-empty texts: 24 to calibrate on, 8 held out at the least
MAX_CALIBRATION = 300  # texts calibrated on (NNCF's default subset size)
MAX_HELD_OUT = 200  # texts the gate embeds twice
HELD_OUT_SHARE = 0.25
GATE = (0.99, 0.97)  # cosine to fp32: mean, min (BENCHMARKS.md's gate)
BACKENDS = ("onnx", "openvino")
SEED = 0
_HELD_OUT = (UnknownTokenWarning, LongInputWarning, WeakPoolingWarning)  # about the texts only


@dataclass(frozen=True)
class Sample:
    calibration: list[str]
    held_out: list[str]
    given: int  # non-empty distinct texts found


@dataclass(frozen=True)
class Quantization:
    """What calibrated int8 did: written as `meta.quantization` beside every vector."""

    method: str  # "static int8"
    engine: str  # "nncf" (openvino) | "onnxruntime"
    passed: bool
    precision: str  # what runs: "int8", or "fp32" after the fallback
    calibration_texts: int
    held_out_texts: int
    sample_sha256: str  # of the texts calibrated on
    gate_mean: float
    gate_min: float
    cosine_mean: float
    cosine_min: float
    reason: str | None = None  # why the fallback
    cache: str = "built"  # "built" or "reused" (a quantized model from an earlier run)
    seconds: float = 0.0  # calibration (when built) and the gate
    other_ops: str = "fp32"  # what the ops left out of int8 run in: "bf16" on OpenVINO where native

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """The gate's line, as the CLI prints it."""
        head = (
            f"calibrated int8 ({self.engine}, {self.calibration_texts} texts): gate on "
            f"{self.held_out_texts} held-out texts"
        )
        missed = "" if self.passed else self.reason or ""  # the bounds the gate missed
        mean = "<" if "mean" in missed else ">="
        low = "<" if "min" in missed else ">="
        figures = (
            f"cosine to fp32 mean {self.cosine_mean:.4f} ({mean} {self.gate_mean:g}), "
            f"min {self.cosine_min:.4f} ({low} {self.gate_min:g})"
        )
        if self.passed:
            return f"{head}: {figures}: passed, running int8"
        return f"{head}: {figures}: {self.reason}; running {self.precision} instead"

    def cache_line(self) -> str:
        if self.cache == "reused":
            return "the int8 model was reused from the cache (quantized on this sample before)"
        return f"the int8 model was quantized and cached ({self.seconds:.1f} s with the gate)"


# -- checks at the edge: before the model loads ---------------------------------------------


def check(backend: str, precision: str, calibrate: Any, gate: Any) -> tuple[Sample, tuple]:
    """Refuse what calibrate= cannot do, naming the valid options; the split sample and the
    gate thresholds otherwise."""
    check_use(backend, precision)
    return split(texts_of(calibrate)), check_gate(gate)


def check_use(backend: str, precision: str) -> None:
    if precision != "int8":
        raise OptionError(
            "precision",
            precision,
            ["int8"],
            "calibrate= makes a static int8 model; leave it out for fp32 or bf16",
        )
    if backend not in BACKENDS:
        raise OptionError(
            "backend",
            backend,
            BACKENDS,
            "calibrated int8 runs on openvino (NNCF) or onnx (onnxruntime static quantization); "
            "ctranslate2's int8 scales activations per row and takes no calibration",
        )


def check_gate(gate: Any) -> tuple[float, float]:
    """(mean, min), each a cosine in (0, 1]. A min bound above the mean's is a gate on the
    minimum alone (every cosine at or above it implies the mean is)."""
    valid = ["(mean, min) cosines in (0, 1], e.g. (0.99, 0.97)"]
    try:
        mean, low = (float(g) for g in gate)
    except (TypeError, ValueError):
        raise OptionError("gate", gate, valid) from None
    if not (0 < mean <= 1 and 0 < low <= 1):
        raise OptionError("gate", gate, valid)
    return mean, low


def texts_of(calibrate: Any) -> list[str]:
    """A list of texts, or the path of a file of texts (any format bertex reads)."""
    valid = ["a list of texts", "the path of a file of texts (.txt, .jsonl, .csv, .parquet)"]
    if isinstance(calibrate, Path) or (isinstance(calibrate, str) and Path(calibrate).is_file()):
        return read_file(Path(calibrate))
    if isinstance(calibrate, str):
        raise OptionError(
            "calibrate", calibrate, valid, f"{missing(calibrate)} (one text is no sample)"
        )
    if not isinstance(calibrate, Iterable):
        raise OptionError("calibrate", type(calibrate).__name__, valid)
    texts = list(calibrate)
    wrong = next((t for t in texts if not isinstance(t, str)), None)
    if wrong is not None:
        raise OptionError("calibrate", f"a list holding {type(wrong).__name__} values", valid)
    for i, text in enumerate(texts):  # a lone surrogate: refused here, not by the tokenizer
        try:
            check_text(text, i)
        except InvalidTextError as e:
            raise OptionError("calibrate", f"text {i}", ["valid Unicode texts"], e.reason) from None
    return texts


def read_file(path: Path, text_field: str = "text") -> list[str]:
    """A reservoir sample of a file's texts: every row is read, MAX_CALIBRATION +
    MAX_HELD_OUT texts are kept, each row as likely as any other."""
    from .sources import SourceSpec, open_rows

    if not path.is_file():
        raise OptionError("calibrate", str(path), ["the path of a file of texts"], missing(path))
    spec = SourceSpec(path=str(path), text_field=text_field)
    try:
        spec.resolved_format()
    except OptionError:  # its advice (--input-format) is --input's, not this file's
        suffixes = [".txt", ".jsonl", ".csv", ".tsv", ".parquet"]
        raise OptionError("calibrate", str(path), suffixes, "its suffix says its format") from None
    problems: list[str] = []

    def texts() -> Iterator[str]:
        for row in open_rows(spec):
            if row.text:
                yield row.text
            elif row.error:
                problems.append(row.error)

    kept = reservoir(texts(), MAX_CALIBRATION + MAX_HELD_OUT)
    if not kept and problems:  # e.g. no field of that name: say so, not "0 usable texts"
        raise OptionError("calibrate", str(path), ["a file of texts"], f"no text: {problems[0]}")
    return kept


def missing(path: str | Path) -> str:
    """Why a path is not a file of texts."""
    return "a folder, not a file" if Path(path).is_dir() else "no such file"


def reservoir(texts: Iterable[str], n: int, seed: int = SEED) -> list[str]:
    """n texts drawn uniformly from a stream of unknown length (Algorithm R), in stream
    order: reservoir(["a", "b", "c"], 5) == ["a", "b", "c"]."""
    rng, kept = random.Random(seed), []  # (position, text)
    for i, text in enumerate(texts):
        if i < n:
            kept.append((i, text))
        elif (j := rng.randrange(i + 1)) < n:
            kept[j] = (i, text)
    return [t for _, t in sorted(kept)]


def split(texts: list[str]) -> Sample:
    """Distinct non-empty texts, shuffled (seeded) -> held-out part | calibration part. A text
    is in one part only, so the gate never measures a text the model was calibrated on."""
    distinct = list(dict.fromkeys(t for t in texts if t.strip()))
    if len(distinct) < MIN_TEXTS:
        raise OptionError(
            "calibrate",
            f"{len(distinct)} usable texts",
            [f"at least {MIN_TEXTS} distinct non-empty texts (a list, or a file of texts)"],
            "a quarter (at least 8) is held out to check the int8 model against fp32; "
            "leave calibrate out for dynamic int8 (backend='onnx')",
        )
    random.Random(SEED).shuffle(distinct)
    held = min(MAX_HELD_OUT, max(8, round(HELD_OUT_SHARE * len(distinct))))
    return Sample(distinct[held:][:MAX_CALIBRATION], distinct[:held], len(distinct))


def sample_sha256(sample: Sample) -> str:
    """The SHA-256 of a split sample, known before any model loads (a corpus job's fingerprint
    holds it): the calibration part, then the held-out part, each text by its own SHA-256."""
    h = hashlib.sha256()
    for part in (sample.calibration, sample.held_out):
        h.update(f"{len(part)}\n".encode())
        for text in part:
            h.update(hashlib.sha256(text.encode("utf-8")).digest())
    return h.hexdigest()


# -- the gate ---------------------------------------------------------------------------------


def gated(
    exact: Model,
    int8_backend: Callable[[Any], Any],
    rebuild: Callable[[Backend], Model],
    sample: Sample,
    gate: tuple[float, float],
) -> Model:
    """The int8 model when it passes the gate on the held-out texts, else `exact` (fp32), with
    a GateWarning; the record is on the model's backend (`backend.quantization`)."""
    import warnings

    from .backends.static_int8 import calibration_of

    start = time.perf_counter()
    info, tok = exact.info, exact.tokenizer
    types = "token_type_ids" in tok.hf.model_input_names
    data = calibration_of(tok.hf, sample.calibration, info.max_length, types)
    backend = int8_backend(data)
    fast = rebuild(backend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exact_out = exact.embed(sample.held_out, on_error="collect")  # no tokens: left out
        if not isinstance(exact_out.results, SentenceEmbeddings):
            raise OptionError("calibrate", "no held-out text with tokens", ["texts with words"])
        held = [sample.held_out[i] for i in exact_out.kept]
        got = fast.embed(held).vectors  # (M, D); the int8 model is quantized on its first forward
    # the held-out texts' UNK or length warnings are not the job's; bertex's others (a broken
    # cached graph rebuilt on this first forward) are said as they would have been
    for w in caught:
        if issubclass(w.category, BertexWarning) and not issubclass(w.category, _HELD_OUT):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    cos = cosines(exact_out.results.vectors, got)
    record = Quantization(
        method="static int8",
        engine="nncf" if backend.name == "openvino" else "onnxruntime",
        passed=bool(cos.mean() >= gate[0] and cos.min() >= gate[1]),
        precision="int8",
        calibration_texts=len(sample.calibration),
        held_out_texts=len(held),
        sample_sha256=data.sha256,
        gate_mean=gate[0],
        gate_min=gate[1],
        cosine_mean=round(float(cos.mean()), 6),
        cosine_min=round(float(cos.min()), 6),
        cache="reused" if getattr(backend, "reused", False) else "built",
        other_ops=_other_ops(backend),
    )
    if not record.passed:
        record = replace(record, precision="fp32", reason=_below(cos, gate))
    record = replace(record, seconds=round(time.perf_counter() - start, 3))
    chosen = fast if record.passed else exact
    if record.passed:
        backend.release_exact()  # the fp32 sessions served the gate; their memory goes back
    chosen.backend.quantization = record.to_dict()  # type: ignore[attr-defined]
    if not record.passed:
        warnings.warn(record.line(), GateWarning, stacklevel=3)
        if backend.name == "openvino":
            _KEEP.append(backend)  # see _KEEP
    return chosen


def _other_ops(backend: Any) -> str:
    """ "bf16" where OpenVINO runs the ops left out of int8 in bf16 (read back from the model
    it compiled for the gate), else "fp32"."""
    read = getattr(backend, "inference_precision", None)
    return "bf16" if read is not None and read() == "bf16" else "fp32"


def _below(cos: np.ndarray, gate: tuple[float, float]) -> str:
    """Which bounds a failed gate missed: each one, not only the first."""
    low = [
        name
        for name, got, bound in (("mean", cos.mean(), gate[0]), ("min", cos.min(), gate[1]))
        if got < bound
    ]
    return (
        "the mean and the min are below the gate"
        if len(low) == 2
        else f"the {low[0]} is below the gate"
    )


# An int8 OpenVINO model that failed its gate is kept alive, never released: releasing a
# compiled NNCF model has hung or aborted in openvino 2026.4.1 (docs/peers-openvino-fastembed.md)
_KEEP: list[Any] = []


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of (M, D) and (M, D) -> (M,)."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(na * nb, 1e-12)
