"""The columnar sentence path (columnar.py) against the per-input path it replaces for
level="sentence": the same vectors (1e-6), reports, texts, errors and warnings, on mixed
short / long / empty / [UNK]-heavy inputs, computed in the same test run by switching the
runner to the per-input path (Runner.columnar = False), which stays the path of every other
level. Plus batch invariance, and the Python-level pieces (report table, tokenize, batching)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest

import bertex
from bertex import columns
from bertex.batching import plan_batches
from bertex.errors import InputError
from bertex.reports import ReportTable, report_columns
from bertex.types import InputReport

SHORT = ["A man is riding a horse.", "the cat", "Dogs run.", "x"]
LONG = " ".join(["the quick brown fox jumps over the lazy dog"] * 30)  # ~270 words
UNK_HEAVY = "日本語のテキスト ☃ 漢字 ♞ ok"
EMPTY = ["", "   ", "\u200b"]  # empty, whitespace, a format character only


def mixed(n: int = 60) -> list[str]:
    rng = np.random.default_rng(0)
    pool = SHORT + [LONG, UNK_HEAVY, LONG[:700], "Tokens " * 40]
    return [pool[i] for i in rng.integers(0, len(pool), n)]


@contextmanager
def per_input(model: bertex.Model):
    model.runner.columnar = False
    try:
        yield
    finally:
        model.runner.columnar = True


def both(model: bertex.Model, texts: list[str], **kw):
    """(columnar result, per-input result, their warnings) for one call."""
    with warnings.catch_warnings(record=True) as w_new:
        warnings.simplefilter("always")
        new = model.embed(texts, **kw)
    with per_input(model), warnings.catch_warnings(record=True) as w_old:
        warnings.simplefilter("always")
        old = model.embed(texts, **kw)
    return new, old, [str(x.message) for x in w_new], [str(x.message) for x in w_old]


def same(new, old) -> None:
    assert new.texts == old.texts
    assert new.vectors.shape == old.vectors.shape and new.vectors.dtype == old.vectors.dtype
    np.testing.assert_allclose(new.vectors, old.vectors, atol=1e-6, rtol=0)
    assert tuple(new.reports) == tuple(old.reports)
    assert new.meta == old.meta


OPTIONS = [
    {},
    {"pooling": "mean", "normalize": False},
    {"pooling": "max"},
    {"pooling": "cls"},
    {"pooling": "mean_sqrt_len"},
    {"pooling": "first_last_avg"},
    {"pooling": "pooler"},
    {"pooling": "mean", "special_tokens": True},
    {"layers": [-1, -2], "combine": "concat"},
    {"layers": [-1, -2], "combine": "stack"},
    {"dimensions": 16, "dtype": "float16"},
    {"long": "truncate"},
    {"max_length": 16},
    {"max_length": 16, "long": "truncate"},
    {"max_batch_size": 3, "batch_tokens": 100},
]


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults"
)
def test_same_as_per_input_path(tiny_bert: bertex.Model, options: dict) -> None:
    new, old, w_new, w_old = both(tiny_bert, mixed(), **options)
    same(new, old)
    assert w_new == w_old
    assert isinstance(new.reports, ReportTable)


def test_unk_heavy_reports_and_warning(tiny_chinese: bertex.Model) -> None:
    texts = ["日本語のテキスト ☃ 漢字", "中文", "abc ♞ ☃ ☃", *(["☃ ♞ ok"] * 8)]
    new, old, w_new, w_old = both(tiny_chinese, texts)
    same(new, old)
    assert sum(r.unk_count for r in new.reports) > 8  # the test means something
    assert w_new == w_old and any("more inputs" in w for w in w_new)


def test_roberta_template(tiny_roberta: bertex.Model) -> None:
    """<s> a </s>: another template, another pad id."""
    new, old, _, _ = both(tiny_roberta, mixed(30), max_length=24)
    same(new, old)


def test_default_model(default_model: bertex.Model) -> None:
    new, old, w_new, w_old = both(default_model, mixed(40))
    same(new, old)
    assert w_new == w_old


@pytest.mark.parametrize("long", ["error", "window"])
def test_collect_leaves_out_the_same_inputs(tiny_bert: bertex.Model, long: str) -> None:
    texts = [*EMPTY[:1], *mixed(20), *EMPTY[1:], "fine"]
    new, old, _, _ = both(tiny_bert, texts, on_error="collect", max_length=32, long=long)
    assert new.kept == old.kept and len(new.kept) < len(texts)
    assert [(e.index, e.reason) for e in new.errors] == [(e.index, e.reason) for e in old.errors]
    same(new.results, old.results)
    assert [r.index for r in new.results.reports] == list(new.kept)


@pytest.mark.parametrize("bad", [EMPTY[0], EMPTY[1], EMPTY[2], LONG])
def test_raise_names_the_same_input(tiny_bert: bertex.Model, bad: str) -> None:
    texts = [*SHORT, bad, *SHORT]
    errors = []
    for columnar in (True, False):
        tiny_bert.runner.columnar = columnar
        try:
            with pytest.raises(InputError) as e:
                tiny_bert.embed(texts, max_length=32, long="error")
        finally:
            tiny_bert.runner.columnar = True
        errors.append((type(e.value), e.value.index, str(e.value)))
    assert errors[0] == errors[1] and errors[0][1] == len(SHORT)


def test_chunks_and_pipeline(tiny_bert: bertex.Model, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several chunks (tokenized in a thread while the previous one runs) give the same."""
    from bertex import columnar, runner

    monkeypatch.setattr(columnar, "CHUNK", 7)
    monkeypatch.setattr(runner, "CHUNK", 7)
    texts = [*mixed(40), "", "ok"]
    timings: dict[str, float] = {}
    new = tiny_bert.embed(texts, on_error="collect", timings=timings)
    with per_input(tiny_bert):
        old = tiny_bert.embed(texts, on_error="collect")
    assert new.kept == old.kept
    same(new.results, old.results)
    assert {"tokenize", "plan", "forward", "pool", "report", "output"} <= set(timings)
    # each Python stage's thread CPU, which one thread cannot spend faster than the wall clock
    own = ("plan", "pool", "report", "output")
    assert {k for k in timings if k.endswith(":cpu")} == {f"{k}:cpu" for k in own}
    for k in own:
        assert 0 <= timings[f"{k}:cpu"] <= timings[k] + 1e-3, (k, timings)


def test_batch_invariance(default_model: bertex.Model) -> None:
    texts = mixed(50)
    together = default_model.embed(texts).vectors
    for i in (0, 7, 31):
        alone = default_model.embed(texts[i]).vectors[0]
        np.testing.assert_allclose(alone, together[i], atol=1e-5, rtol=0)


def test_report_table_reads_like_reports() -> None:
    reports = [InputReport(i, 5 + i, 1 + i % 2, i == 2, i, 2 * i, 10, 5 + i) for i in range(4)]
    cols = {f: [getattr(r, f) for r in reports] for f in InputReport.__dataclass_fields__}
    table = ReportTable(**cols)
    assert tuple(table) == tuple(reports) and table == tuple(reports)
    assert table[-1] == reports[-1] and table[1:3] == tuple(reports[1:3])
    assert tuple(table.take([3, 0])) == (reports[3], reports[0])
    assert [r.index for r in table.reindexed([7, 8, 9, 10])] == [7, 8, 9, 10]
    want = report_columns(tuple(reports))
    got = report_columns(table)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    with pytest.raises(IndexError):
        table[4]


def test_tokenize_columns_match_the_hf_tokenizer(tiny_chinese: bertex.Model) -> None:
    hf = tiny_chinese.tokenizer.hf
    texts = ["中文 abc ☃", "", "☃☃ ♞", "ok"]
    cols = columns.tokenize(columns.fast_tokenizer(hf), texts, hf.unk_token_id)
    for r, t in enumerate(texts):
        want = hf(t, add_special_tokens=False)["input_ids"]
        got = cols.ids[cols.starts[r] : cols.starts[r] + cols.lengths[r]].tolist()
        assert got == want
        assert cols.unk_count[r] == want.count(hf.unk_token_id)
    assert cols.unk_chars.tolist()[2] == 3  # ☃ ☃ ♞, one character each


def rows_of(cols: columns.TokenColumns) -> list[list[int]]:
    """Each row's content ids, as lists."""
    return [cols.ids[s : s + n].tolist() for s, n in zip(cols.starts, cols.lengths)]


def assert_twin_is_full(tok: columns.ColumnTokenizer, hf, texts: list[str], label: str) -> None:
    """Through the twin, every column equals the full tokenizer's, and every row's ids the HF
    tokenizer's."""
    cols = columns.tokenize(tok, texts, hf.unk_token_id)
    full = columns.tokenize(columns.ColumnTokenizer(tok.full, None), texts, hf.unk_token_id)
    for field in ("ids", "starts", "lengths", "unk_count", "unk_chars"):
        np.testing.assert_array_equal(getattr(cols, field), getattr(full, field), label)
    assert rows_of(cols) == hf(texts, add_special_tokens=False)["input_ids"], label


TRICKY = [
    "Hello, World! It's 3:45pm -- e-mail me@x.com (now).",
    "TABS\tand\nnew\r\nlines   and  spaces",
    "ctrl\x01chars\x0bvertical\x0cfeed\x7fdel\x00nul",  # clean_text drops these: full path
    "Caf\u00e9 na\u00efve \u00c9COLE",  # accents: full path
    "mixed ascii 中文 and \U0001f600 emoji",
    "UPPER lower MiXeD 12345 #$%&*+/<=>?@[\\]^_`{|}~",
    "",
    "   ",
    "x" * 300,
    "unaffable antidisestablishmentarianism",
    "special tokens in text: [MASK] [SEP] [CLS] [PAD] [UNK] [mask] [Mask]",
]


@pytest.mark.parametrize("which", ["default_model", "cased", "tiny_chinese", "tiny_roberta"])
def test_the_plain_ascii_twin_gives_the_full_tokenizers_ids(which: str, request) -> None:
    """Rows the twin takes (plain ASCII) and rows it leaves to the full tokenizer: the ids
    the model's own tokenizer gives, on every kind of tokenizer (uncased, cased, Chinese,
    byte-level BPE without a BertNormalizer, where no row takes the twin)."""
    if which == "cased":
        model = bertex.load(request.getfixturevalue("cased_bert_dir"))
    else:
        model = request.getfixturevalue(which)
    hf = model.tokenizer.hf
    tok = columns.fast_tokenizer(hf)
    assert (tok.plain is None) == (which == "tiny_roberta")
    rng = np.random.default_rng(2)
    words = "The cat SAT on the mat , and ( then ) ran-away 42 times ! Résumé".split()
    texts = TRICKY + [" ".join(rng.choice(words, rng.integers(1, 30))) for _ in range(300)]
    assert_twin_is_full(tok, hf, texts, which)


def fuzz_texts(n: int, seed: int) -> list[str]:
    """Random ASCII rows: printable characters, tabs, newlines (and control characters),
    special-token strings in several cases, the added tokens of `twin_variants` and their
    case and whitespace variants, words around WordPiece's 100-character limit, digit and
    punctuation runs."""
    import string

    rng = np.random.default_rng(seed)
    special = ["[MASK]", "[SEP]", "[CLS]", "[PAD]", "[UNK]", "[mask]", "[Mask]", "[ MASK]"]
    added = ["NewWord", "newword", "NEWWORD", "hello world", "Hello World", "hello\tworld",
             "hello\nworld", "hello  world", "hello\r\nworld", "cafe", "CAFE", "a b",
             "a\tb"]  # fmt: skip
    seps = ["", " ", " ", " ", "\t", "\n", "\r\n", "  ", "\r", " \t "]
    letters, runs = list(string.ascii_letters), list(string.digits + string.punctuation)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(int(rng.integers(1, 10))):
            k = int(rng.integers(0, 9))
            if k == 0:
                parts.append(str(rng.choice(special)))
            elif k == 1:
                parts.append(str(rng.choice(added)))
            elif k == 2:  # around max_input_chars_per_word
                parts.append("".join(rng.choice(letters, int(rng.integers(95, 130)))))
            elif k == 3:
                parts.append("".join(rng.choice(runs, int(rng.integers(1, 12)))))
            elif k == 4:
                parts.append("".join(rng.choice(list(string.printable), int(rng.integers(1, 16)))))
            elif k == 5:
                parts.append(str(rng.choice(["\x00", "\x01", "\x0b", "\x1f", "\x7f"])))
            else:
                parts.append("".join(rng.choice(letters, int(rng.integers(1, 10)))))
            parts.append(str(rng.choice(seps)))
        out.append("".join(parts))
    return out


def twin_variants(vocab: str):
    """(name, HF fast tokenizer) pairs that stress the twin: added tokens matched on
    normalized and on raw text, a non-ASCII one, pre-tokenizers other than BERT's."""
    from tokenizers import AddedToken, pre_tokenizers
    from transformers import BertTokenizerFast

    for lower in (True, False):
        for normalized in (True, False):
            tok = BertTokenizerFast(vocab_file=vocab, do_lower_case=lower)
            words = ["NewWord", "hello world", "ab"]
            tok.add_tokens([AddedToken(w, normalized=normalized) for w in words])
            yield f"added normalized={normalized} lower={lower}", tok
    tok = BertTokenizerFast(vocab_file=vocab)
    tok.add_tokens([AddedToken("café", normalized=True), AddedToken("a\tb", normalized=True)])
    yield "added non-ASCII", tok
    for pre in (pre_tokenizers.Metaspace(), pre_tokenizers.Split(" ", "removed"), None):
        tok = BertTokenizerFast(vocab_file=vocab)
        tok.backend_tokenizer.pre_tokenizer = pre
        yield f"pre-tokenizer {type(pre).__name__}", tok


def test_the_twin_gives_the_full_tokenizers_ids_on_fuzzed_ascii(default_model, bert_dir) -> None:
    """Seeded fuzz: every row's ids, UNK count and UNK characters through the twin are the
    full tokenizer's (and the HF tokenizer's), on the default model and on tokenizers with
    added tokens and other pre-tokenizers (where the twin takes fewer rows, or none)."""
    texts = fuzz_texts(300, 43)
    vocab = str(bert_dir / "vocab.txt")
    cases = [("default", default_model.tokenizer.hf), *twin_variants(vocab)]
    for name, hf in cases:
        tok = columns.fast_tokenizer(hf)
        if name == "default":  # the common case keeps its twin, tabs and newlines included
            assert tok.plain is not None and not tok.hard.search("a\tb\nc\r\n")
        assert_twin_is_full(tok, hf, texts, name)


def test_an_added_token_with_a_space_keeps_tab_rows_off_the_twin(bert_dir) -> None:
    """An added "hello world" (matched on normalized text) matches "hello<tab>world" after
    the BertNormalizer, which makes the tab a space; a Lowercase keeps the tab, so such rows
    go to the full tokenizer; rows without tabs or newlines still take the twin."""
    from transformers import BertTokenizerFast

    hf = BertTokenizerFast(vocab_file=str(bert_dir / "vocab.txt"))
    hf.add_tokens(["hello world"])
    new = hf.convert_tokens_to_ids("hello world")
    tok = columns.fast_tokenizer(hf)
    assert tok.plain is not None and tok.hard.search("a\tb") and not tok.hard.search("a b")
    texts = ["hello\tworld", "Hello\nWorld", "hello\r\nworld", "HELLO WORLD"]
    cols = columns.tokenize(tok, texts, hf.unk_token_id)
    got = rows_of(cols)
    assert got == hf(texts, add_special_tokens=False)["input_ids"]
    assert [got[r] for r in (0, 1, 3)] == [[new]] * 3  # \r\n is two spaces: no match


def test_an_added_token_the_twin_would_normalize_otherwise_turns_it_off(bert_dir) -> None:
    """An added "Café" is "cafe" to an accent-stripping BertNormalizer, so it matches the
    ASCII "cafe"; under a Lowercase it would not: no twin for such a tokenizer."""
    from transformers import BertTokenizerFast

    hf = BertTokenizerFast(vocab_file=str(bert_dir / "vocab.txt"))
    hf.add_tokens(["Café"])
    tok = columns.fast_tokenizer(hf)
    assert tok.plain is None
    texts = ["a cafe", "CAFE"]
    cols = columns.tokenize(tok, texts, hf.unk_token_id)
    got = rows_of(cols)
    assert got == hf(texts, add_special_tokens=False)["input_ids"]
    assert got[1] == [hf.convert_tokens_to_ids("Café")]


def test_embed_on_fuzzed_ascii_with_added_tokens_is_the_per_input_paths(bert_dir, tmp_path):
    """The whole columnar path on a model whose tokenizer has added tokens (one with a space,
    matched on normalized text): vectors, reports, errors as the per-input path's."""
    from transformers import BertModel, BertTokenizerFast

    hf = BertTokenizerFast.from_pretrained(str(bert_dir))
    hf.add_tokens(["hello world", "NewWord"])
    hf.save_pretrained(str(tmp_path))
    net = BertModel.from_pretrained(str(bert_dir))
    net.resize_token_embeddings(len(hf))
    net.save_pretrained(str(tmp_path))
    model = bertex.load(tmp_path)
    texts = ["hello\tworld", "Hello\nWorld now", *fuzz_texts(120, 44)]
    new, old, w_new, w_old = both(model, texts, on_error="collect", long="window")
    assert new.kept == old.kept
    assert [(e.index, e.reason) for e in new.errors] == [(e.index, e.reason) for e in old.errors]
    same(new.results, old.results)
    assert w_new == w_old


@pytest.mark.parametrize("budget,size", [(16, 8), (100, 2), (7, 1), (1000, 64)])
def test_plan_batches_is_the_greedy_plan(budget: int, size: int) -> None:
    """The vectorised planner against the item-by-item greedy rule it replaced."""
    lengths = np.random.default_rng(1).integers(1, 12, 200).tolist()
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    want, current, width = [], [], 0
    for i in order:
        if current and (len(current) + 1 > size or (len(current) + 1) * width > budget):
            want.append(current)
            current = []
        if not current:
            width = lengths[i]
        current.append(i)
    want.append(current)
    assert [b.tolist() for b in plan_batches(lengths, budget, size)] == want


def test_window_level_is_untouched(tiny_bert: bertex.Model) -> None:
    """Other levels stay on the per-input path: the switch changes nothing there."""
    got = tiny_bert.embed([LONG, "short"], level="window", max_length=32)
    with per_input(tiny_bert):
        ref = tiny_bert.embed([LONG, "short"], level="window", max_length=32)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a.vectors, b.vectors)
        np.testing.assert_array_equal(a.spans, b.spans)
        assert a.report == b.report


def test_reindexed_collect_keeps_a_table(tiny_bert: bertex.Model) -> None:
    got = tiny_bert.embed(["", "a b", "c"], on_error="collect")
    assert isinstance(got.results.reports, ReportTable)
    assert [r.index for r in got.results.reports] == [1, 2]
    assert replace(got.results.reports[0], index=0).n_chars == 2


def test_to_device_on_the_cpu_shares_the_array() -> None:
    """The CUDA branch (pinned memory, a non-blocking copy) needs a GPU; on the CPU the tensor
    is the array itself, no copy."""
    import torch

    from bertex.backends.torch_backend import to_device

    a = np.arange(6, dtype=np.int64).reshape(2, 3)  # (B, L)
    t = to_device(a, torch.device("cpu"))
    a[0, 0] = 42
    assert t[0, 0].item() == 42 and t.dtype == torch.int64


def test_whitespace_table_is_pythons() -> None:
    from bertex.reports import SPACES, count_chars

    assert set(SPACES) == {c for c in range(0x110000) if chr(c).isspace()}
    texts = ["", " a\u3000b\u2003c\t", "\U0001f600 x", "\ud800 y", "日本 語"]
    want = [len("".join(t.split())) for t in texts]
    assert count_chars(texts).tolist() == want


@pytest.mark.parametrize("folder", ["distilbert_dir", "albert_dir", "xlmr_dir", "electra_dir"])
def test_other_tokenizers(folder: str, request: pytest.FixtureRequest) -> None:
    """WordPiece, SentencePiece (ALBERT, XLM-R) and a DistilBERT without token types: the
    Rust tokenizer called directly gives the ids the HF wrapper gives."""
    model = bertex.load(request.getfixturevalue(folder))
    texts = [*SHORT, UNK_HEAVY, "Tokens " * 40, "Ünïcödé text, ÀÉÎ."]
    new, old, w_new, w_old = both(model, texts, max_length=24)
    same(new, old)
    assert w_new == w_old
