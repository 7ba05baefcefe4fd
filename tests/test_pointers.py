"""Names users bring from other tools get a pointer, not a bare error: `model.encode`, and
`bertex finetune|fine-tune|fill-mask|generate|translate` (argparse's "invalid choice" before)."""

from __future__ import annotations

import pytest

from bertex.api import Model
from bertex.cli.main import main


@pytest.mark.parametrize(
    "command, names",
    [
        ("finetune", ["bertex tune"]),
        ("fine-tune", ["bertex tune"]),
        ("fill-mask", ["bertex fill"]),
        ("generate", ["does not generate", "docs/scope.md"]),
        ("translate", ["does not translate", "docs/scope.md"]),
        ("embedd", ["did you mean `bertex embed`"]),
    ],
)
def test_a_command_from_elsewhere_points_to_where_it_is_done(command, names, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "some text"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bertex: error: ")
    assert all(n in err for n in names), err
    assert "invalid choice" not in err


def test_an_unknown_command_lists_the_real_ones(capsys):
    with pytest.raises(SystemExit):
        main(["zzz"])
    err = capsys.readouterr().err
    assert "unknown command 'zzz'" in err and "embed, tokens" in err and "did you mean" not in err


def test_model_encode_points_to_embed_and_stays_an_attribute_error(tiny_bert):
    with pytest.raises(AttributeError, match=r"model\.embed\(texts\)"):
        tiny_bert.encode(["a cat"])
    assert not hasattr(tiny_bert, "encode")  # duck-typing code is not fooled
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        tiny_bert.nonsense  # noqa: B018
    assert isinstance(tiny_bert, Model)
