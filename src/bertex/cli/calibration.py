"""`--precision int8 --calibrate N|FILE [--gate MEAN,MIN]`: calibrated int8 on the CLI.

--calibrate N samples N texts of the job's own input (every row read, each as likely to be
drawn) before the job starts; --calibrate FILE reads a file of texts. The gate's line is
printed on stderr as soon as the model is loaded, before any vector is computed.
"""

from __future__ import annotations

import argparse
import gc
import sys
import warnings
from pathlib import Path
from typing import Any

from ..errors import OptionError

SAMPLE = "N: texts sampled from the input"


def add_options(p: argparse.ArgumentParser) -> None:
    from ..calibrate import GATE, MIN_TEXTS

    g = p.add_argument_group("calibrated int8 (--precision int8 on openvino or onnx)")
    g.add_argument(
        "--calibrate",
        metavar="N|FILE",
        help=f"static int8 calibrated on N texts sampled from the input (at least {MIN_TEXTS}) "
        "or on a file of texts; a quarter is held out and the fp32 model runs instead unless "
        "their int8 vectors pass --gate",
    )
    g.add_argument(
        "--gate",
        metavar="MEAN,MIN",
        help=f"cosine to fp32 on the held-out texts, mean and minimum (default: "
        f"{GATE[0]},{GATE[1]})",
    )


def check(args: argparse.Namespace) -> None:
    """Before any input is read or any model loads: the flags make sense together."""
    from ..calibrate import MIN_TEXTS, check_gate, check_use, missing

    value = getattr(args, "calibrate", None)
    if value is None:
        if getattr(args, "gate", None) is not None:
            raise OptionError("--gate", args.gate, ["with --calibrate N|FILE"], "nothing to gate")
        return
    check_use(args.backend, args.precision)
    try:
        args.gate_bounds = check_gate(args.gate.split(",")) if args.gate is not None else None
    except OptionError:
        raise OptionError("--gate", args.gate, ["MEAN,MIN: cosines in (0, 1], e.g. 0.99,0.97"])
    if getattr(args, "engine", "local") != "local":
        raise OptionError("--engine", args.engine, ["local"], "--calibrate runs in this process")
    if _count(value):
        if int(value) < MIN_TEXTS:
            raise OptionError("--calibrate", value, [f"N >= {MIN_TEXTS}", "a file of texts"])
        return
    if not Path(value).is_file():
        raise OptionError(
            "--calibrate", value, [f"{SAMPLE} (>= {MIN_TEXTS})", "a file of texts"], missing(value)
        )


def sample(args: argparse.Namespace, texts: Any = None) -> Any:
    """What bertex.load's calibrate= takes: the texts of a file (its --text-field), or texts
    drawn from the input (`texts`, or the rows of --input when None)."""
    from ..calibrate import MIN_TEXTS, read_file, reservoir

    value = getattr(args, "calibrate", None)
    if value is None:
        return None
    if not _count(value):
        drawn = read_file(Path(value), getattr(args, "text_field", "text"))
        where = f"the file {value} holds"
    else:
        if texts is None:
            texts = _input_texts(args)
        drawn = reservoir((t for t in texts if isinstance(t, str)), int(value))
        where = "the input holds"
    usable = len({t for t in drawn if t.strip()})
    if usable < MIN_TEXTS:  # said in the flag's words, not bertex.load's calibrate=
        raise OptionError(
            "--calibrate",
            value,
            [f"a file of at least {MIN_TEXTS} distinct non-empty texts"],
            f"{where} {usable} distinct non-empty texts; a quarter of the sample (at least 8) "
            "is held out to check int8 against fp32. Leave --calibrate out for dynamic int8 "
            "(--backend onnx)",
        )
    return drawn


def job_fields(args: argparse.Namespace, texts: Any, precision: str) -> dict[str, Any]:
    """A corpus job's int8 fingerprint fields, known before the model loads: the calibration
    sample's SHA-256 (`texts` as `sample` drew them) and what decides the int8 graph."""
    from ..backends.static_int8 import int8_identity
    from ..calibrate import sample_sha256, split

    if texts is not None:
        return {
            "calibration": sample_sha256(split(list(texts))),
            "quantizer": int8_identity(args.backend, calibrated=True),
        }
    if precision == "int8":
        return {"quantizer": int8_identity(args.backend, calibrated=False)}
    return {}


def _count(value: str) -> bool:
    """--calibrate N: ASCII digits ("²" and "٣" are digits to str.isdigit, not to int)."""
    return value.isascii() and value.isdigit()


def _input_texts(args: argparse.Namespace) -> Any:
    from ..sources import open_rows, resolve_source
    from .inputs import source_spec

    if args.input == "-":
        raise OptionError(
            "--calibrate",
            args.calibrate,
            ["a file of texts"],
            "stdin is read once: --calibrate N cannot sample it before the job",
        )
    rows = open_rows(resolve_source(source_spec(args, args.input)))
    return (r.text for r in rows if r.text and not r.error)


def load(args: argparse.Namespace, calibrate: Any = None) -> Any:
    """bertex.load with the command's flags; the gate's line printed at once (stderr), in
    place of the warning the library gives for a fallback."""
    import bertex

    from ..calibrate import Quantization
    from ..errors import GateWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = bertex.load(
            args.model,
            backend=args.backend,
            precision=args.precision,
            device=args.device,
            forward_timeout=getattr(args, "forward_timeout", None),
            calibrate=calibrate,
            gate=getattr(args, "gate_bounds", None) if calibrate is not None else None,
        )
    for w in caught:  # the others as they would have been, for main() to show
        if not issubclass(w.category, GateWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    record = getattr(model.backend, "quantization", None)
    if record is not None:
        q = Quantization(**record)
        print(f"{'note' if q.passed else 'warning'}: {q.line()}", file=sys.stderr)
        print(f"note: {q.cache_line()}", file=sys.stderr)
    if getattr(args, "own_process", False):
        # The command's own process: what loading made (about 400,000 objects: torch,
        # transformers, the vocabulary) lives as long as it does, so the garbage collector
        # stops scanning it. Measured: a full collection of 211 ms in the middle of a
        # 10,000-line job, holding the GIL, is gone (that job's `tokenize`: 35 -> 17 µs/input).
        gc.freeze()
    return model
