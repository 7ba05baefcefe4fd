"""Search over what bertex embedded: an embedded store (usearch + Parquet) or PostgreSQL with
pgvector, behind one `Index` (see core.py)."""

from .core import Added, Index
from .provenance import Provenance
from .rows import Hits

__all__ = ["Added", "Hits", "Index", "Provenance"]
