"""fastembed on the local ONNX export of the model (run in the "fastembed" environment).

Configuration: one TextEmbedding in this process, onnxruntime's CPU provider with its default
thread pool (threads=None: all physical cores, intra-op), batch_size=32. fastembed's other
mode, `parallel=N`, starts N worker processes per `embed` call with a session each: it is meant
for corpora far larger than a batch and pays the process start-up on every call, so for this
benchmark (and on a few cores) the single session with all threads is its fastest.
The model is registered as a custom model (mean pooling, L2 normalization) and loaded from the
export folder, offline; its truncation is set to 256 tokens as every path of the benchmark
(fastembed takes tokenizer_config.json's model_max_length, 512, otherwise).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from child_protocol import BATCH, MAX_TOKENS, Embed, run  # noqa: E402


def load(variant: str, model_dir: Path) -> Embed:
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    name = f"bertex-bench/{model_dir.name}-{variant}"  # a name no hub model has
    dim = json.loads((model_dir / "config.json").read_text())["hidden_size"]
    TextEmbedding.add_custom_model(
        model=name,
        pooling=PoolingType.MEAN,
        normalization=True,
        sources=ModelSource(hf=name),  # never fetched: specific_model_path wins, offline
        dim=dim,
        model_file="model.onnx",
    )
    model = TextEmbedding(
        model_name=name, specific_model_path=str(model_dir), local_files_only=True
    )
    model.model.tokenizer.enable_truncation(max_length=MAX_TOKENS)

    def embed(texts: list[str]) -> np.ndarray:
        return np.stack(list(model.embed(texts, batch_size=BATCH)))  # (N, H)

    return embed


if __name__ == "__main__":
    run(load)
