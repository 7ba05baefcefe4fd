"""Peer engines for bench/speed.py: each runs in its own environment (envs.py), in its own
process, with the child protocol of speed.py (warm-up, `reps` timed runs over the same texts,
vectors saved to .npy, one JSON line {"times": [...], "peak_mib": ...} on stdout)."""
