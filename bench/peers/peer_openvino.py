"""The openvino peer (see registry.Peer)."""

PEERS: list = []
