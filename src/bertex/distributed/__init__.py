"""Distributed engines: adapters that run corpus jobs on a cluster (the library never imports
them)."""
