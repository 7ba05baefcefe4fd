"""`bertex viz attention`: the HTML opened in headless Chromium (no network), the PNG's pixels."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bertex
from bertex.cli.main import main
from bertex.viz import attention_view
from bertex.viz.layers import LAYER_POOLINGS

from .conftest import assert_drawn, open_offline

TEXT = "the cat sat on the mat ☃"  # the snowman is outside the tiny vocabulary: one [UNK]


def cli(*args: str) -> int:
    return main(["viz", *args])


def test_attention_html_works_offline_in_chromium(
    browser: Any, bert_dir: Path, tiny_bert: bertex.Model, tmp_path: Path
) -> None:
    out = tmp_path / "attention.html"
    assert (
        cli("attention", TEXT, "--pair", "it was tired", "-m", str(bert_dir), "--out", str(out))
        == 0
    )
    ref = tiny_bert.embed(TEXT, "it was tired", level="token", attentions=True)
    layers, heads, t, _ = ref.attentions.shape  # (layers, heads, T, T)
    page, outside = open_offline(browser, out)
    assert page.locator(".grid .cell").count() == layers * heads
    assert page.locator("svg text.from").count() == t
    assert page.locator("svg text.from.unk").count() == ref.tokens.count("[UNK]") == 1
    assert page.locator("svg text.from.special").count() == int(ref.special_mask.sum())
    every = page.locator("line.att").count()
    page.locator("svg text.from").nth(1).hover()  # focus one token: only its lines remain
    focused = page.locator("line.att").count()
    assert 0 < focused < every
    page.locator(".grid .cell[data-layer='0'][data-head='1']").click()  # enlarge layer 1, head 2
    assert page.locator("#layerno").inner_text() == "1"
    assert page.locator(".heads span.off").count() == heads - 1
    page.screenshot(path=str(tmp_path / "attention.png"))
    page.close()
    assert outside == []


def test_attention_html_data_is_the_library_s(tiny_bert: bertex.Model) -> None:
    view = attention_view(tiny_bert, TEXT)
    ref = tiny_bert.embed(TEXT, level="token", attentions=True)
    np.testing.assert_allclose(view.maps, ref.attentions, atol=1e-6)
    np.testing.assert_allclose(view.maps.sum(axis=-1), 1.0, atol=1e-4)  # rows are distributions
    assert view.unk == tuple(tok == "[UNK]" for tok in ref.tokens)


def test_attention_png_has_pixels(bert_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "attention.png"
    assert cli("attention", TEXT, "-m", str(bert_dir), "--out", str(out), "--layer", "1") == 0
    assert_drawn(out)


def test_a_text_longer_than_one_window_is_refused_with_the_limit(
    bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "the cat sat on the mat " * 40
    out = tmp_path / "a.html"
    assert cli("attention", long, "-m", str(bert_dir), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "windows" in err and "long='truncate'" in err and not out.exists()
    assert cli("attention", long, "-m", str(bert_dir), "--out", str(out), "--long", "truncate") == 0
    assert "first window only" in out.read_text("utf-8")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["attention", "   "], "empty"),
        (["attention", TEXT, "--layer", "9"], "layer=9 is not valid; choose one of: 1, 2"),
        (["attention", TEXT, "--head", "5"], "head=5 is not valid; choose one of: 1, 2"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], says: str, bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a.png"
    assert cli(*args, "-m", str(bert_dir), "--out", str(out)) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # warnings may come first
    assert last.startswith("bertex: error:") and says in last and not out.exists()


def test_an_unknown_suffix_names_the_valid_ones(
    bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("attention", TEXT, "-m", str(bert_dir), "--out", str(tmp_path / "a.svg")) == 2
    assert "'.html', '.png'" in capsys.readouterr().err


def test_the_offline_gate_catches_a_network_request(browser: Any, tmp_path: Path) -> None:
    page_file = tmp_path / "cdn.html"
    page_file.write_text('<script src="https://cdn.example.org/x.js"></script>', "utf-8")
    page, outside = open_offline(browser, page_file)
    page.close()
    assert outside == ["https://cdn.example.org/x.js"]


def test_layers_html_shows_the_library_s_similarities(
    browser: Any, bert_dir: Path, tiny_bert: bertex.Model, tmp_path: Path
) -> None:
    a, b = "the cat sat on the mat", "a dog sat on the rug"
    out = tmp_path / "layers.html"
    assert cli("layers", a, b, "-m", str(bert_dir), "--out", str(out)) == 0
    page, outside = open_offline(browser, out)
    hidden = tiny_bert.embed(a, level="hidden_states")  # (L+1, T, H)
    k, t, _ = hidden.vectors.shape
    assert page.locator("#drift td.v").count() == k * t
    assert page.locator("#tsim td.v").count() == t * t
    shown = page.locator("#ssim td.v").all_inner_texts()  # rows: layers, columns: poolings
    assert len(shown) == k * len(LAYER_POOLINGS)
    for j, pooling in enumerate(LAYER_POOLINGS):
        r = tiny_bert.embed([a, b], layers="all", combine="stack", pooling=pooling)
        for layer in range(k):
            x, y = r.vectors[0, layer], r.vectors[1, layer]
            cos = float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
            assert shown[layer * len(LAYER_POOLINGS) + j] == f"{cos:.3f}"
    page.select_option("#layer", "0")  # layer 0: the embeddings; a token is itself
    assert page.locator("#tsim td.v").first.inner_text() == "1.000"
    page.close()
    assert outside == []


def test_layers_png_has_pixels(bert_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "layers.png"
    assert cli("layers", "the cat sat", "the dog ran", "-m", str(bert_dir), "--out", str(out)) == 0
    assert_drawn(out)


def test_layers_refuses_an_empty_second_text(
    bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("layers", "the cat", " ", "-m", str(bert_dir), "--out", str(tmp_path / "l.png")) == 2
    assert "empty" in capsys.readouterr().err


def test_a_backend_without_attention_maps_is_explained(tiny_bert: bertex.Model) -> None:
    class NoMaps:  # the model, but its backend returns no attention maps
        backend, tokenizer = tiny_bert.backend, tiny_bert.tokenizer

        def embed(self, *args: Any, **kw: Any) -> Any:
            return dataclasses.replace(tiny_bert.embed(*args, **kw), attentions=None)

    with pytest.raises(bertex.errors.ModelError, match=r"no attention maps.*--backend torch"):
        attention_view(NoMaps(), "the cat sat")
