"""A plain ONNX export of a Hugging Face BERT model, shared by the peers that read ONNX
(fastembed, OpenVINO). Runs in bertex's environment (torch + transformers).

The graph: inputs input_ids, attention_mask, token_type_ids (int64, dynamic batch and sequence
axes), output last_hidden_state (B, L, H); opset 17, the TorchScript exporter on eager
attention (the pattern onnxruntime and OpenVINO fuse; sdpa does not trace cleanly there).
Kept in cache/onnx-<hash of the model's config and weights>/ with the tokenizer files beside
it, and reused when present.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import warnings
from pathlib import Path

OPSET = 17
NAMES = ("input_ids", "attention_mask", "token_type_ids")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "config.json",
)


def digest(model_folder: Path) -> str:
    """A short hash of the model's configuration and weights (what the export depends on)."""
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        f = model_folder / name
        if f.exists():
            with f.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:12]


def export(model_folder: Path, cache: Path) -> Path:
    """The folder holding model.onnx and the tokenizer files (made once)."""
    out = cache / f"onnx-{digest(model_folder)}"
    if (out / "model.onnx").exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=cache))
    _export_graph(model_folder, tmp / "model.onnx")
    for name in TOKENIZER_FILES:
        if (model_folder / name).exists():
            shutil.copy2(model_folder / name, tmp / name)
    if out.exists():  # a half-made folder from an interrupted run
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _export_graph(model_folder: Path, path: Path) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_folder), attn_implementation="eager").eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # each (B, L)
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state  # (B, L, H)

    # a right-padded probe batch (lengths 8 and 5) so the mask is never traced as all ones
    ids = torch.randint(1000, 2000, (2, 8), dtype=torch.int64)  # (B, L)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    types = torch.zeros_like(ids)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden().eval(),
            (ids, mask, types),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(NAMES),
            output_names=["last_hidden_state"],
            dynamic_axes={
                **{n: {0: "batch", 1: "seq"} for n in NAMES},
                "last_hidden_state": {0: "batch", 1: "seq"},
            },
        )
