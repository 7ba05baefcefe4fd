"""OpenVINO on the model's ONNX export or its NNCF int8 IR (run in the "openvino" environment).

Configuration (OpenVINO's throughput recipe for CPU): PERFORMANCE_HINT=THROUGHPUT, which
splits the cores into several inference streams, fed by an AsyncInferQueue of the compiled
model's OPTIMAL_NUMBER_OF_INFER_REQUESTS requests so that every stream always has a batch;
batches of 32 length-sorted texts with dynamic shapes (each batch padded to its own longest
text); the next batch is tokenized while the earlier ones run. INFERENCE_PRECISION_HINT is
f32 for the exact row (on a CPU with bf16 OpenVINO would otherwise pick bf16 by itself) and
bf16 for the bf16 row; the int8 row reads the quantized IR (its non-quantized ops in f32), and
the int8+bf16 row the same IR with its non-quantized ops in bf16 (OpenVINO's own default on a
CPU with bf16, and what bertex's openvino int8 runs there).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from child_protocol import BATCH, MAX_TOKENS, Embed, run  # noqa: E402

PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "f32", "int8+bf16": "bf16"}


def tokenizer(model_dir: Path):  # noqa: ANN201 - tokenizers.Tokenizer
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=MAX_TOKENS)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch
    return tok


def feeds(tok, texts: list[str]) -> dict[str, np.ndarray]:  # noqa: ANN001
    enc = tok.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in enc], dtype=np.int64),  # (B, L)
        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),  # (B, L)
        "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),  # (B, L)
    }


def load(variant: str, model_dir: Path) -> Embed:
    import openvino as ov

    core = ov.Core()
    graph = model_dir / ("model.xml" if variant.startswith("int8") else "model.onnx")
    config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": PRECISION[variant]}
    compiled = core.compile_model(core.read_model(str(graph)), "CPU", config)
    requests = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    tok = tokenizer(model_dir)
    print(f"openvino {ov.get_version()}: {requests} requests", file=sys.stderr)

    def pooled(request, userdata) -> None:  # noqa: ANN001 - runs on OpenVINO's thread
        out, start = userdata  # (N, H) of this call, the batch's first row
        hidden = request.get_output_tensor(0).data  # (B, L, H)
        mask = request.get_tensor("attention_mask").data[..., None].astype(np.float32)
        v = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1)  # (B, H)
        out[start : start + len(v)] = v / np.linalg.norm(v, axis=1, keepdims=True)

    queue = ov.AsyncInferQueue(compiled, requests)  # one queue for every call
    queue.set_callback(pooled)
    width = compiled.output(0).get_partial_shape()[2].get_length()  # H

    def embed(texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), width), dtype=np.float32)  # (N, H)
        for start in range(0, len(texts), BATCH):
            queue.start_async(feeds(tok, texts[start : start + BATCH]), (out, start))
        queue.wait_all()
        return out

    return embed


if __name__ == "__main__":
    import os

    run(load)
    # measured here with openvino 2026.4.1: releasing the compiled int8 model (NNCF IR, 2
    # throughput streams) hangs or aborts ("terminate called without an active exception")
    # after the work is done and the results are written; leave without the teardown
    sys.stdout.flush()
    os._exit(0)
