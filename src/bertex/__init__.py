"""bertex: correct, loud, fast embeddings from pretrained BERT-family models.

>>> import bertex
>>> model = bertex.load("all-MiniLM-L6-v2")
>>> model.embed(["a cat", "a dog"], level="sentence").vectors.shape
(2, 384)
"""

__version__ = "0.1.0"

from .api import Model, Request, Tokenized, load
from .config import EmbedOptions
from .errors import (
    BertexError,
    BertexWarning,
    BrokenModelError,
    EmptyInputError,
    HubUnreachableError,
    InputError,
    InvalidTextError,
    LongInputWarning,
    ModelError,
    ModelNotFoundError,
    OptionError,
    TokenizerFixWarning,
    TooLongError,
    UnknownTokenWarning,
    WeakPoolingWarning,
)
from .loading import DEFAULT_MODEL
from .models import ModelInfo
from .types import (
    InputReport,
    Meta,
    SentenceEmbeddings,
    TokenEmbedding,
    WordEmbedding,
)

__all__ = [
    "DEFAULT_MODEL",
    "BertexError",
    "BertexWarning",
    "BrokenModelError",
    "EmbedOptions",
    "EmptyInputError",
    "HubUnreachableError",
    "InputError",
    "InputReport",
    "InvalidTextError",
    "LongInputWarning",
    "Meta",
    "Model",
    "ModelError",
    "ModelInfo",
    "ModelNotFoundError",
    "OptionError",
    "Request",
    "SentenceEmbeddings",
    "TokenEmbedding",
    "Tokenized",
    "TokenizerFixWarning",
    "TooLongError",
    "UnknownTokenWarning",
    "WeakPoolingWarning",
    "WordEmbedding",
    "__version__",
    "load",
]
