"""`bertex viz map`: a projection of stored vectors, opened in Chromium; bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bertex
from bertex.cli.main import main
from bertex.viz.projection import map_view

from .conftest import assert_drawn, open_offline

TEXTS = ["the cat sat", "a dog ran", "the mat is red", "cats and dogs", "red and blue", "a rug"]


def stored(tmp_path: Path, bert_dir: Path, n: int = len(TEXTS)) -> Path:
    src = tmp_path / "in.jsonl"
    rows = [{"id": f"d{i}", "text": t, "label": "ab"[i % 2]} for i, t in enumerate(TEXTS[:n])]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "v.parquet"
    args = ["--keep-field", "label", "--keep-text", "--quiet"]
    assert main(["embed", "-m", str(bert_dir), "--input", str(src), "--out", str(out), *args]) == 0
    return out


def test_map_html_shows_every_point_with_its_id_and_text(
    browser: Any,
    bert_dir: Path,
    tmp_path: Path,
) -> None:
    vectors = stored(tmp_path, bert_dir)
    out = tmp_path / "map.html"
    argv = ["viz", "map", "--input", str(vectors), "--color-by", "label", "--out", str(out)]
    assert main(argv) == 0
    page, outside = open_offline(browser, out)
    points = page.locator("circle.pt")
    assert points.count() == len(TEXTS)
    fills = {points.nth(i).get_attribute("fill") for i in range(len(TEXTS))}
    assert len(fills) == 2  # two labels, two colours
    points.nth(2).hover()
    assert page.locator("#tip").inner_text() == f"d2 · a: {TEXTS[2]}"
    page.close()
    assert outside == []


def test_pca_is_the_reference_projection(bert_dir: Path, tmp_path: Path) -> None:
    from sklearn.decomposition import PCA

    path = stored(tmp_path, bert_dir)
    view = map_view(path, "label")
    ref = PCA(2).fit_transform(np.asarray(bertex.read(path).vectors, dtype=np.float64))
    np.testing.assert_allclose(np.abs(view.xy), np.abs(ref), atol=1e-6)  # up to each axis' sign
    tsne = map_view(path, method="tsne")
    assert tsne.xy.shape == (len(TEXTS), 2) and np.isfinite(tsne.xy).all()


def test_a_large_input_is_sampled_with_a_stated_seed(bert_dir: Path, tmp_path: Path) -> None:
    path = stored(tmp_path, bert_dir)
    view = map_view(path, max_points=4, seed=7)
    assert len(view.ids) == 4 and view.note.startswith("4 of 6 points, sampled with seed 7")
    assert map_view(path, max_points=4, seed=7).ids == view.ids  # the seed makes it repeatable


def test_map_png_has_pixels(bert_dir: Path, tmp_path: Path) -> None:
    vectors, out = stored(tmp_path, bert_dir), tmp_path / "map.png"
    assert main(["viz", "map", "--input", str(vectors), "--out", str(out)]) == 0
    assert_drawn(out, ink=0.005)  # six dots and the axes


@pytest.mark.parametrize(
    ("n", "extra", "says"),
    [
        (6, ["--color-by", "lang"], "--color-by='lang' is not valid; choose one of: 'label'"),
        (2, [], "2 vectors; a projection needs at least 3"),
    ],
)
def test_bad_map_input_is_one_line_and_exit_2(
    n: int,
    extra: list[str],
    says: str,
    bert_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vectors, out = stored(tmp_path, bert_dir, n), tmp_path / "map.html"
    assert main(["viz", "map", "--input", str(vectors), *extra, "--out", str(out)]) == 2
    assert says in capsys.readouterr().err and not out.exists()


def test_an_index_folder_maps_like_an_output_file(bert_dir: Path, tmp_path: Path) -> None:
    labels = ["ab"[i % 2] for i in range(len(TEXTS))]
    ix = bertex.Index.create(tmp_path / "docs.idx", model=bertex.load(bert_dir))
    ix.add(TEXTS, ids=[f"d{i}" for i in range(len(TEXTS))], fields={"label": labels})
    ix.close()
    view = map_view(tmp_path / "docs.idx", "label")
    assert view.ids == [f"d{i}" for i in range(len(TEXTS))] and view.colors == labels
    assert view.texts == TEXTS and view.xy.shape == (len(TEXTS), 2)
    with pytest.raises(bertex.OptionError, match="label"):
        map_view(tmp_path / "docs.idx", "lang")
