"""Load a folder's own task head as the object that uses it (by config.json's architectures).

Apart from folder.py so that the task modules import folder.py and this imports them, never
both ways (no import circle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .answer import Reader
from .classify import Classifier
from .folder import read
from .tag import Tagger


def load(name_or_path: str | Path) -> Any:
    """A folder's own task head: a Classifier, a Tagger or a Reader (by config.json)."""
    loaded = read(name_or_path)
    if loaded.task == "classify":
        return Classifier(loaded)
    if loaded.task == "tag":
        return Tagger(loaded)
    return Reader(loaded)
