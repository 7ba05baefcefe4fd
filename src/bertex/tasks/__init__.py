"""Using task models: entity spans, extractive answers, cross-encoder rerank, a folder's own
task head (sequence classification, token classification, question answering).

Sits below analysis and the adapters; imports only types, errors, models and the facade.

    tagger = bertex.tasks.load("ner-folder")          # any Hugging Face *ForTokenClassification
    tagger.predict(["Barack Obama visited Paris"])    # [[Entity('PER', 0, 12, ...), ...]]
    reader = bertex.tasks.load("qa-folder")           # any *ForQuestionAnswering
    reader.answer("Who?", "Guido van Rossum wrote Python.")
"""

from .answer import Answer, Reader
from .classify import Classifier, Prediction
from .folder import head_of
from .loading import load
from .rerank import Ranked, rerank
from .spans import AGGREGATIONS, Entity
from .tag import Tagger

__all__ = [
    "AGGREGATIONS",
    "Answer",
    "Classifier",
    "Entity",
    "Prediction",
    "Ranked",
    "Reader",
    "Tagger",
    "head_of",
    "load",
    "rerank",
]
