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
    GateWarning,
    HeadError,
    HubUnreachableError,
    IndexBusyError,
    IndexChangedError,
    IndexCorruptError,
    IndexMismatchError,
    InputError,
    InvalidTextError,
    LongInputWarning,
    ModelError,
    ModelNotFoundError,
    NoTaskHeadError,
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
from .fill import Candidate, Filled, MaskFill
from .index import Hits, Index
from .loader import load
from .models import ModelInfo
from .models.source import DEFAULT_MODEL
from .sentences import Span
from .sentences import split as split_sentences
from .tasks.answer import answer
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


def fill(inputs, *, model=DEFAULT_MODEL, k=5):
    """Fill the masks ([MASK] or <mask>) of a text or a list with a model that has a
    masked-LM head: the k best tokens and their probabilities for each (Model.fill)."""
    return load(model).fill(inputs, k=k)


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
    "Candidate",
    "CasingWarning",
    "Collected",
    "DataFileError",
    "DeadlineError",
    "DuplicateIdError",
    "EmbedOptions",
    "EmptyInputError",
    "Engine",
    "GateWarning",
    "ExportError",
    "ExtraMissingError",
    "Filled",
    "FormatVersionError",
    "ForwardTimeoutError",
    "Hits",
    "HeadError",
    "HubUnreachableError",
    "Index",
    "IndexChangedError",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "InputError",
    "InputReport",
    "InvalidTextError",
    "JobSpec",
    "JobSummary",
    "LongInputWarning",
    "MaskFill",
    "Meta",
    "Model",
    "ModelError",
    "ModelInfo",
    "ModelNotFoundError",
    "NoTaskHeadError",
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
    "answer",
    "fill",
    "heads",
    "load",
    "read",
    "similarity",
    "split_sentences",
    "tasks",
    "tune",
]
