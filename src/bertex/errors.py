"""One exception tree for bertex. Adapters (CLI, server) map it once, at their edge.

    BertexError
     ├── OptionError          an option value is not one of the valid ones (lists them)
     ├── InputError           a text cannot be embedded as given (names its index)
     │    ├── EmptyInputError      empty or whitespace-only: nothing to embed
     │    ├── InvalidTextError     lone surrogate, invalid UTF-8, non-string element
     │    └── TooLongError         over the model's limit with long="error" (limit + length)
     ├── StoppedError         the caller's stop() asked to stop between batches
     ├── ModelError           a model cannot be loaded
     │    ├── ModelNotFoundError   no such folder, no such hub id
     │    ├── HubUnreachableError  a hub id, no network, not in the local cache
     │    └── BrokenModelError     a folder is missing a file, or a file is wrong (names it)
     │         └── TFCheckpointError   a Google TF checkpoint unreadable or unmappable (names
     │                                 the file and the tensor)
     ├── SourceError          a corpus cannot be read (missing file, missing column)
     │    ├── FormatVersionError   a bertex output of a format_version this bertex cannot read
     │    └── DataFileError        an eval/probe/training file is malformed (names the row)
     ├── RowError             a corpus row is bad under on_error="fail" (names the row)
     ├── OutputError          an output cannot be written (full disk, unwritable path)
     │    ├── OutputMismatchError  an existing output was made with other options or input
     │    └── OutputLockedError    another job holds the lock on the output (names its PID)
     ├── UnsafeCacheError     the cache can be written by other users (names the folder)
     ├── ExtraMissingError    an optional extra is not installed (names it)
     ├── OverloadedError      the engine's queue is full (or it is closing): retry shortly
     ├── DeadlineError        no answer within the caller's deadline; its work was dropped
 ├── ForwardTimeoutError  a forward pass did not return within its bound (a wedged backend)
     ├── HeadError            a trained head is corrupted or made for another model
     └── SearchIndexError     a search index cannot be used as asked
          ├── IndexMismatchError   another model, other options or another dimension
          ├── IndexCorruptError    a missing or unreadable index file (names the way back)
          ├── DuplicateIdError     an add with ids already in the index
          ├── IndexChangedError    another writer changed the index since it was opened
          └── StoreUnavailableError  PostgreSQL unreachable or without pgvector

Warnings are BertexWarning subclasses: UnknownTokenWarning, WeakPoolingWarning,
LongInputWarning, TokenizerFixWarning, PrecisionWarning (GateWarning), CacheWarning,
CasingWarning.
"""

from __future__ import annotations

from collections.abc import Iterable


class BertexError(Exception):
    """The root of every error bertex raises on purpose."""


def _seconds(s: float) -> str:
    """A duration for people: two significant digits under 10 s, whole seconds from 10 s.

    >>> _seconds(0.11999), _seconds(2.0), _seconds(2.54), _seconds(61.234)
    ('0.12', '2', '2.5', '61')
    """
    return f"{s:.0f}" if s >= 10 else f"{s:.2g}"


class OptionError(BertexError, ValueError):
    """An option has a value outside its valid set."""

    def __init__(self, name: str, value: object, valid: Iterable[object], hint: str = "") -> None:
        self.name, self.value, self.valid = name, value, tuple(valid)
        choices = ", ".join(repr(v) for v in self.valid)
        msg = f"{name}={value!r} is not valid; choose one of: {choices}"
        super().__init__(f"{msg}. {hint}" if hint else msg)


class InputError(BertexError, ValueError):
    """A text cannot be embedded as given. `index` is its position in the caller's list."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        self.reason, self.index = reason, index
        prefix = f"input {index}: " if index is not None else ""
        super().__init__(prefix + reason)

    def at(self, index: int | None) -> InputError:
        """The same error, naming another position (a sub-list's index in the caller's list)."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.index = index
        other.args = ((f"input {index}: " if index is not None else "") + self.reason,)
        return other


class EmptyInputError(InputError):
    """The text has no tokens: empty, whitespace only, or only characters the tokenizer drops."""


class InvalidTextError(InputError):
    """The value is not valid text: not a string, invalid UTF-8 bytes, a lone surrogate."""


class TooLongError(InputError):
    """Over the model's limit while long="error"."""

    def __init__(
        self,
        length: int,
        limit: int,
        index: int | None = None,
        hint: str = "",
        unit: str = "tokens",
    ) -> None:
        self.length, self.limit, self.unit = length, limit, unit
        if unit == "tokens":
            msg = f"{length} tokens is over the model's limit of {limit} tokens"
        else:
            msg = f"{length:,} {unit} is over the limit of {limit:,} {unit}"
        msg += f"; {hint}" if hint else "; use long='window' (default) or long='truncate'"
        super().__init__(msg, index)


class StoppedError(BertexError):
    """The caller's `stop()` said to stop; raised between forward batches, nothing returned."""

    def __init__(self, batches_run: int) -> None:
        self.batches_run = batches_run
        super().__init__(f"stopped by the caller after {batches_run} forward batches")


class ModelError(BertexError):
    """A model cannot be loaded."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """Neither a local folder, nor the embedded model, nor a hub id."""


class HubUnreachableError(ModelError, ConnectionError):
    """A hub id that is not cached locally while the hub cannot be reached."""


class BrokenModelError(ModelError):
    """A model folder that exists but cannot be used; the message names the file."""

    def __init__(self, path: object, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class ExportError(ModelError):
    """No ONNX graph of the model agrees with torch; the torch backend still works."""


class SourceError(BertexError):
    """A corpus source cannot be read at all."""


class FormatVersionError(SourceError):
    """A file written by bertex in a format_version this version does not read."""


class RowError(BertexError):
    """A bad row stops a corpus job run with on_error="fail"."""

    def __init__(self, row: int, row_id: object, reason: str) -> None:
        self.row, self.row_id, self.reason = row, row_id, reason
        super().__init__(
            f"row {row} (id {row_id!r}): {reason}; committed shards are kept: fix the row "
            "(or use --on-error skip) and run the same command again to resume"
        )


class OutputError(BertexError):
    """An output cannot be written; what was committed stays resumable."""


class OutputMismatchError(OutputError):
    """An existing output was made with other options; refusing to mix vectors."""


class OutputLockedError(OutputError):
    """Another job is writing the same output; the message names its PID."""


class UnsafeCacheError(BertexError):
    """The cache folder can be written by another user: a planted file would run as yours."""

    def __init__(self, path: object, owner: int, mode: int) -> None:
        self.path, self.owner, self.mode = path, owner, mode
        super().__init__(
            f"the cache folder {path} can be written by other users (owner uid {owner}, mode "
            f"{mode:o}); bertex runs cached graphs, so it refuses it. Point BERTEX_CACHE at a "
            "folder of your own (chmod 700) or unset it"
        )


class ExtraMissingError(BertexError, ImportError):
    """An optional dependency group is not installed."""

    def __init__(self, extra: str, module: str, what: str) -> None:
        self.extra = extra
        super().__init__(
            f"{what} needs the optional extra {extra!r} ({module} is not installed): "
            f"pip install -e '.[{extra}]' in the bertex checkout (make run installs every extra)"
        )


class OverloadedError(BertexError):
    """The engine cannot take the work now: its queue is full, or it is closing. Nothing of
    the request was queued; retrying later is safe."""


class DeadlineError(BertexError, TimeoutError):
    """A request was not answered within its deadline; what was left of it was not run."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"no answer within {_seconds(seconds)} s; the rest of the request was dropped"
        )


class ForwardTimeoutError(BertexError, TimeoutError):
    """A forward pass did not return within its bound: the backend is wedged. The worker
    thread that ran it is never used again; the message names what to try."""

    def __init__(self, backend: str, shape: tuple[int, ...], seconds: float, how: str) -> None:
        self.backend, self.shape, self.seconds = backend, tuple(shape), seconds
        rows, length = (tuple(shape) + (0, 0))[:2]
        super().__init__(
            f"the {backend} backend's forward pass on a batch of {rows} x {length} tokens did "
            f"not return within {_seconds(seconds)} s ({how}); every thread's stack is in the log; "
            "try --backend torch, or BERTEX_WORKERS=1"
        )


class BertexWarning(UserWarning):
    """The root of bertex's warnings."""


class UnknownTokenWarning(BertexWarning):
    """Some characters became the unknown token: the vocabulary does not cover them."""


class WeakPoolingWarning(BertexWarning):
    """A pooling that is known to give poor sentence vectors for this model."""


class LongInputWarning(BertexWarning):
    """An input was windowed or truncated."""


class PrecisionWarning(BertexWarning):
    """A requested precision is not native on this machine; a slower or exact one runs."""


class GateWarning(PrecisionWarning):
    """Calibrated int8 failed its quality gate (cosine to fp32 on held-out texts): the exact
    fp32 model runs instead. The figures are in meta.quantization."""


class TokenizerFixWarning(BertexWarning):
    """The tokenizer's saved settings contradicted its vocabulary and bertex corrected them."""


class TFCheckpointError(BrokenModelError):
    """A Google TensorFlow checkpoint that cannot be read or mapped onto a BERT model: not an
    index, a missing or truncated shard, a crc32c mismatch, shapes that disagree with the
    config, or a model family bertex does not map yet. Names the file and the tensor."""


class CacheWarning(BertexWarning):
    """A cache folder cannot be written: the work is done in a temporary place and redone on
    the next load."""


class CasingWarning(BertexWarning):
    """A checkpoint does not say whether its tokenizer lowercases; bertex chose (and says how
    to choose otherwise)."""


class SearchIndexError(BertexError):
    """A search index cannot be used as asked (see the subclasses)."""


class IndexMismatchError(SearchIndexError):
    """Vectors that are not comparable with the index's: another model, other options, or
    another dimension. The message names every field that differs."""


class IndexCorruptError(SearchIndexError):
    """An index whose files are missing or unreadable; the message names the file and the
    way back (`bertex index repair`, or a rebuild from the Parquet beside it)."""


class DuplicateIdError(SearchIndexError):
    """An add with ids already in the index (replace=True replaces them)."""


class IndexChangedError(SearchIndexError):
    """Another process committed to an embedded index after this one opened it: a write from
    the older state would undo theirs, so it is refused (open the index again)."""


class IndexBusyError(IndexChangedError, OutputLockedError):
    """Another process held an embedded index's writer lock for longer than this writer would
    wait (`wait=` / `--wait`): nothing was written; run again when it is done."""


class StoreUnavailableError(SearchIndexError):
    """A PostgreSQL store that cannot be reached (or was lost: the next call connects again),
    or has no `vector` extension: the message names the server and why."""


class StoreRefusedError(SearchIndexError):
    """PostgreSQL refused what was asked, and asking again will not change it: a permission
    (the message names the ones an index needs), a read-only server, a name it will not take."""


class DataFileError(SourceError):
    """An evaluation, probe or training file is malformed; names the file, the row and why."""

    def __init__(self, path: object, row: int | None, reason: str) -> None:
        self.path, self.row, self.reason = path, row, reason
        where = f"{path}, row {row}" if row is not None else f"{path}"
        super().__init__(f"{where}: {reason}")


class HeadError(BertexError):
    """A trained head cannot be used: corrupted, or made for another model's features."""


class NoTaskHeadError(ModelError):
    """A model folder has no task head (sequence classification, token classification,
    question answering, masked LM for fill) of the kind a command needs: the message names
    what it has."""
