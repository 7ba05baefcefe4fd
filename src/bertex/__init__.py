"""bertex: correct, loud, fast embeddings from pretrained BERT-family models.

>>> import bertex
>>> model = bertex.load("all-MiniLM-L6-v2")
>>> model.embed(["a cat", "a dog"], level="sentence").vectors.shape
(2, 384)
"""

from . import heads, tune  # tune: a callable package, bertex.tune("pairs", ...)
from ._version import __version__
from .api import Model, similarity
from .config import EmbedOptions
from .corpus import JobSpec, JobSummary
from .engine import Engine
from .errors import (
    BertexError,
    BertexWarning,
    BrokenModelError,
    CacheWarning,
    CasingWarning,
    DataFileError,
    DeadlineError,
    DuplicateIdError,
    EmptyInputError,
    ExportError,
    ExtraMissingError,
    FormatVersionError,
    ForwardTimeoutError,
    HeadError,
    HubUnreachableError,
    IndexChangedError,
    IndexCorruptError,
    IndexMismatchError,
    InputError,
    InvalidTextError,
    LongInputWarning,
    ModelError,
    ModelNotFoundError,
    OptionError,
    OutputError,
    OutputLockedError,
    OutputMismatchError,
    OverloadedError,
    PrecisionWarning,
    RowError,
    SearchIndexError,
    SourceError,
    StoppedError,
    StoreRefusedError,
    StoreUnavailableError,
    TFCheckpointError,
    TokenizerFixWarning,
    TooLongError,
    UnknownTokenWarning,
    UnsafeCacheError,
    WeakPoolingWarning,
)
from .index import Hits, Index
from .models import ModelInfo
from .models.loader import load
from .models.source import DEFAULT_MODEL
from .sentences import Span
from .sentences import split as split_sentences
from .types import (
    Collected,
    InputReport,
    Meta,
    Request,
    SentenceEmbeddings,
    TokenEmbedding,
    Tokenized,
    WindowEmbeddings,
    WordEmbedding,
)


def read(path, batch_rows=None):
    """Read any file bertex wrote back to ids, vectors and metadata (see sinks.read.Stored).

    With `batch_rows=N`, an iterator of Stored of at most N rows each (bounded memory)."""
    from .sinks.read import read as _read

    return _read(path, batch_rows)


__all__ = [
    "DEFAULT_MODEL",
    "BertexError",
    "BertexWarning",
    "BrokenModelError",
    "CacheWarning",
    "CasingWarning",
    "Collected",
    "DataFileError",
    "DeadlineError",
    "DuplicateIdError",
    "EmbedOptions",
    "EmptyInputError",
    "Engine",
    "ExportError",
    "ExtraMissingError",
    "FormatVersionError",
    "ForwardTimeoutError",
    "Hits",
    "HeadError",
    "HubUnreachableError",
    "Index",
    "IndexChangedError",
    "IndexCorruptError",
    "IndexMismatchError",
    "InputError",
    "InputReport",
    "InvalidTextError",
    "JobSpec",
    "JobSummary",
    "LongInputWarning",
    "Meta",
    "Model",
    "ModelError",
    "ModelInfo",
    "ModelNotFoundError",
    "OptionError",
    "OutputError",
    "OutputLockedError",
    "OutputMismatchError",
    "OverloadedError",
    "PrecisionWarning",
    "Request",
    "RowError",
    "SearchIndexError",
    "SentenceEmbeddings",
    "SourceError",
    "Span",
    "StoppedError",
    "StoreRefusedError",
    "StoreUnavailableError",
    "TFCheckpointError",
    "TokenEmbedding",
    "Tokenized",
    "TokenizerFixWarning",
    "TooLongError",
    "UnknownTokenWarning",
    "UnsafeCacheError",
    "WeakPoolingWarning",
    "WindowEmbeddings",
    "WordEmbedding",
    "__version__",
    "heads",
    "load",
    "read",
    "similarity",
    "split_sentences",
    "tune",
]
