"""The fastembed peer (see registry.Peer): fastembed 0.9.1 pointed at a local ONNX export of
the model (onnx_export.py) as a custom model."""

from __future__ import annotations

from onnx_export import export
from registry import Peer

REQUIREMENTS = ("fastembed==0.9.1",)

PEERS: list = [
    Peer(
        path="fastembed onnx fp32",
        env="fastembed",
        requirements=REQUIREMENTS,
        script="run_fastembed.py",
        variant="fp32",
        exact=True,
        prepare=export,
    ),
]
