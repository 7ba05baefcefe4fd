"""The `bertex` command: an adapter over the library (the library never imports it)."""
