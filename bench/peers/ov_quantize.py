"""NNCF post-training int8 quantization of the ONNX export into an OpenVINO IR (run in the
"openvino" environment by peer_openvino.prepare).

    ov_quantize.py ONNX_DIR OUT_DIR CALIBRATION.json

ModelType.TRANSFORMER (NNCF's scheme for transformers: keeps the attention softmax path and
LayerNorms out of int8; it applies SmoothQuant and fast bias correction), calibrated on the
given texts (one text per sample, truncated at 256 tokens). Writes OUT_DIR/model.xml (+ .bin,
weights kept f32 where not quantized) and the tokenizer files.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_openvino import feeds, tokenizer  # noqa: E402


def main() -> None:
    import nncf
    import openvino as ov

    src, out, calibration = (Path(a) for a in sys.argv[1:4])
    texts = json.loads(calibration.read_text())
    tok = tokenizer(src)
    model = ov.convert_model(str(src / "model.onnx"))
    data = nncf.Dataset([feeds(tok, [t]) for t in texts])
    quantized = nncf.quantize(
        model, data, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(texts)
    )
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out / "model.xml"), compress_to_fp16=False)
    for f in src.iterdir():
        if f.suffix != ".onnx":
            shutil.copy2(f, out / f.name)


if __name__ == "__main__":
    main()
