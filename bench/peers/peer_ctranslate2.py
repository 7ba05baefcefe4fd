"""The ctranslate2 peer (see registry.Peer)."""

PEERS: list = []
