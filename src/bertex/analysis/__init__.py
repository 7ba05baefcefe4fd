"""Which layer knows what: STS per layer x pooling, linear probes, trained heads."""
