"""The fastembed peer (see registry.Peer)."""

PEERS: list = []
