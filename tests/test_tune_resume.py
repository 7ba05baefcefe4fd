"""A tune job killed with SIGKILL mid-epoch (after a step, or between a checkpoint's two
renames) and started again with the same command ends with the weights of an uninterrupted
run; nothing half-written is read, and --out never holds a partial model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import bertex
from test_tune_pairs import stsb_rows, write_pairs

# the killed process dies after optimizer step 5 of 12 (epoch 1 of 2; checkpoints every 2 steps)
KILL_AFTER_STEP_5 = """
from bertex.tune.trainer import Trainer
orig, calls = Trainer._step, [0]
def step(self, *a):
    out = orig(self, *a)
    calls[0] += 1
    if calls[0] == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return out
Trainer._step = step
"""


THREADS = 2  # pinned on both sides: torch's thread count (which other tests' backends change in
# this process) sets how a matmul's sums are split, and so the last bits of the weights


@pytest.fixture(autouse=True, scope="module")
def pinned_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


class Death(BaseException):
    """Stands for SIGKILL in-process: no handler of bertex's catches it, so what is on disk
    when it is raised is what a kill leaves (every file written so far is closed and synced)."""


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory, bert_dir: Path) -> dict:
    d = tmp_path_factory.mktemp("resume")
    train = write_pairs(d / "train.csv", stsb_rows(48), ("sentence1", "sentence2", "score"))
    dev = write_pairs(d / "dev.csv", stsb_rows(12, start=200))
    return dict(
        model=str(bert_dir), train=str(train), dev=str(dev), epochs=2, batch_size=8,
        lr=5e-4, save_steps=2, quiet=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(
    job: dict, tmp_path_factory: pytest.TempPathFactory, pinned_threads: None
) -> Path:
    return bertex.tune("pairs", **job, out=str(tmp_path_factory.mktemp("full") / "m")).out


def test_sigkill_mid_epoch_then_the_same_command_ends_with_the_same_weights(
    job: dict, uninterrupted: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "m"
    script = f"import os, signal, bertex, torch\ntorch.set_num_threads({THREADS})\n"
    script += KILL_AFTER_STEP_5
    script += f"bertex.tune('pairs', out={str(out)!r}, **{job!r})\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not out.exists() and (tmp_path / "m.tune-state" / "state").is_dir()
    _resume_and_compare(job, out, uninterrupted, capsys)


def test_killed_between_a_checkpoints_two_renames(
    job: dict, uninterrupted: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import bertex.tune.checkpoint as ck

    out, calls, real = tmp_path / "m", [0], os.replace

    def replace(src: Path, dst: Path) -> None:
        real(src, dst)
        if str(dst).endswith("state.old"):  # the 3rd checkpoint (step 6): old moved aside
            calls[0] += 1
            if calls[0] == 2:
                raise Death

    monkeypatch.setattr(ck.os, "replace", replace)
    with pytest.raises(Death):
        bertex.tune("pairs", **job, out=str(out))
    monkeypatch.undo()
    work = tmp_path / "m.tune-state"
    assert (work / "state.old").is_dir() and (work / "state.tmp").is_dir()
    assert not (work / "state").exists() and not out.exists()
    _resume_and_compare(job, out, uninterrupted, capsys)


def _resume_and_compare(
    job: dict, out: Path, uninterrupted: Path, capsys: pytest.CaptureFixture
) -> None:
    capsys.readouterr()
    r = bertex.tune("pairs", **job, out=str(out))
    assert "resuming from the checkpoint at step 4/12" in capsys.readouterr().err
    a, b = load_file(uninterrupted / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst == 0.0, f"max |difference| {worst}"  # same ops, same order: bit-identical
    full = json.loads((uninterrupted / "training.json").read_text())
    assert r.record["step_losses"] == full["step_losses"]
    assert r.record["epochs"][-1]["metrics"] == full["epochs"][-1]["metrics"]
    assert not out.with_name("m.tune-state").exists()


def test_a_checkpoint_of_another_job_is_not_resumed(job: dict, tmp_path: Path) -> None:
    from bertex.errors import OutputError

    work = tmp_path / "m.tune-state"
    work.mkdir()
    (work / "job.json").write_text('{"fingerprint": "another"}')
    with pytest.raises(OutputError, match="checkpoint of another tuning job"):
        bertex.tune("pairs", **job, out=str(tmp_path / "m"))
    assert (work / "job.json").read_text() == '{"fingerprint": "another"}'


def test_weights_in_a_checkpoint_are_the_models(job: dict, tmp_path: Path) -> None:
    """A checkpoint's model.pt loads into the task's model: nothing but whole files."""
    from bertex.tune.checkpoint import WorkFolder

    w = WorkFolder(tmp_path / "x")
    w.claim("f", overwrite=False)
    model = torch.nn.Linear(2, 2)
    w.save(model, {"progress": {}})
    assert w.load() is not None and sorted(os.listdir(w.root)) == ["job.json", "state"]


def test_a_work_folder_without_its_job_json_is_not_resumed(tmp_path: Path) -> None:
    """A kill -9 inside --overwrite's removal of another job's work folder can take job.json
    and leave that job's checkpoint: the next job must start afresh, not resume it."""
    from bertex.tune.checkpoint import WorkFolder

    w = WorkFolder(tmp_path / "x")
    w.claim("job-a", overwrite=False)
    w.save(torch.nn.Linear(2, 2), {"progress": {}})
    w.save_best(torch.nn.Linear(2, 2))
    (w.root / "job.json").unlink()  # what a partial rmtree leaves
    w.claim("job-b", overwrite=False)
    assert w.load() is None and w.best() is None and w.fingerprint() == "job-b"


def test_ctrl_c_says_how_to_resume(
    job: dict, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bertex.cli.main import main

    raise_at_step_3(monkeypatch, KeyboardInterrupt)
    argv = ["tune", "pairs", "--out", str(tmp_path / "m"), "--max-steps", "3"]
    for k in ("model", "train", "dev", "batch_size", "save_steps"):
        argv += ["--" + k.replace("_", "-"), str(job[k])]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "the same command resumes from the last checkpoint" in err, err
    assert err.rstrip().endswith("bertex: interrupted")
    assert (tmp_path / "m.tune-state" / "state").is_dir() and not (tmp_path / "m").exists()


def raise_at_step_3(monkeypatch: pytest.MonkeyPatch, error: type[BaseException]) -> Any:
    """Make the trainer's third optimizer step raise `error` (after step 2's checkpoint);
    returns the real step, to put back."""
    from bertex.tune.trainer import Trainer

    orig, calls = Trainer._step, [0]

    def step(self, *a):  # noqa: ANN001, ANN002, ANN202
        calls[0] += 1
        if calls[0] == 3:
            raise error
        return orig(self, *a)

    monkeypatch.setattr(Trainer, "_step", step)
    return orig


def killed_after_step_2(job: dict, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job of 4 steps that dies after the checkpoint of step 2."""
    from bertex.tune.trainer import Trainer

    orig = raise_at_step_3(monkeypatch, Death)
    with pytest.raises(Death):
        bertex.tune("pairs", **job, out=str(out), max_steps=4)
    monkeypatch.setattr(Trainer, "_step", orig)


def tune_argv(job: dict, out: Path) -> list[str]:
    """The CLI command of that job."""
    argv = ["tune", "pairs", "--out", str(out), "--max-steps", "4", "--quiet"]
    for k in ("model", "train", "dev", "epochs", "batch_size", "lr", "save_steps"):
        argv += ["--" + k.replace("_", "-"), str(job[k])]
    return argv


def test_a_bf16_checkpoint_resumes_in_bf16_or_is_refused_where_bf16_is_missing(
    job: dict, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--precision auto, resolved again on a machine without bf16, would switch a bf16 job to
    fp32 mid-run: the resume is refused (one line, exit 2, naming --precision fp32); with
    --precision fp32 it continues knowingly, says so, and training.json's notes keep it."""
    from bertex.cli.main import main
    from bertex.tune import runtime
    from bertex.tune.checkpoint import WorkFolder

    out = tmp_path / "m"
    monkeypatch.setattr(runtime, "has_bf16", lambda dev: True)
    killed_after_step_2(job, out, monkeypatch)
    assert WorkFolder(out).meta() == {"step": 2, "precision": "bf16", "notes": []}

    monkeypatch.setattr(runtime, "has_bf16", lambda dev: False)  # resumed where bf16 is not
    argv = tune_argv(job, out)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "the checkpoint at step 2 was trained in bf16" in err and "--precision fp32" in err
    assert WorkFolder(out).meta()["step"] == 2 and not out.exists()  # nothing lost

    assert main([*argv, "--precision", "fp32"]) == 0
    err = capsys.readouterr().err
    said = "the checkpoint at step 2 was trained in bf16; it continues in fp32 (--precision fp32)"
    assert said in err and "resuming from the checkpoint at step 2/4" in err, err
    record = json.loads((out / "training.json").read_text())
    assert record["precision"] == "fp32" and any(said in n for n in record["notes"])
    assert record["steps"] == 4


def test_resume_keeps_the_checkpoints_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules of runtime.resumed, each case once (its doctest shows two)."""
    import doctest

    from bertex.errors import OptionError
    from bertex.tune import runtime

    cpu = torch.device("cpu")
    bf16, fp32 = runtime.Runtime(cpu, "bf16"), runtime.Runtime(cpu, "fp32")
    assert runtime.resumed(fp32, {}, "auto") == (fp32, None)  # a fresh job
    assert runtime.resumed(bf16, {"step": 3, "precision": "fp32"}, "auto")[0].precision == "fp32"
    assert runtime.resumed(bf16, {"step": 3, "precision": "bf16"}, "bf16") == (bf16, None)
    earlier = {"step": 9, "precision": "fp32", "notes": ["an earlier change"]}
    rt, note = runtime.resumed(fp32, earlier, "fp32")
    assert note is None and rt.notes == ("an earlier change",)  # kept to training.json
    monkeypatch.setattr(runtime, "has_bf16", lambda dev: False)
    with pytest.raises(OptionError, match="pass --precision fp32 to continue it in fp32"):
        runtime.resumed(fp32, {"step": 3, "precision": "bf16"}, "auto")
    monkeypatch.undo()
    # a checkpoint of an older bertex (no meta.json): its precision is unknown, and said so
    rt, note = runtime.resumed(bf16, {"precision": None}, "auto")
    assert rt.precision == "bf16" and "records no precision" in note and rt.notes == (note,)
    result = doctest.testmod(runtime)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "meta",
    ["{", "[1, 2]", '{"step": 2, "precision": "fp16", "notes": []}', '{"precision": "bf16"}',
     '{"step": 2, "precision": "fp32", "notes": "abc"}'],
)  # fmt: skip
def test_a_tampered_meta_json_is_refused_in_one_line(tmp_path: Path, meta: str) -> None:
    """A checkpoint's meta.json that save() did not write (cut short, edited) is never trusted
    for the precision a resume continues in; one without meta.json (older bertex) is {}."""
    from bertex.errors import OutputError
    from bertex.tune.checkpoint import WorkFolder

    work = WorkFolder(tmp_path / "m")
    state = work.root / "state"
    state.mkdir(parents=True)
    for name in ("model.pt", "trainer.pt"):
        (state / name).write_bytes(b"")
    assert work.meta() == {"precision": None}  # written before checkpoints had one
    (state / "meta.json").write_text(meta)
    with pytest.raises(OutputError) as e:
        work.meta()
    assert "\n" not in str(e.value) and "meta.json is not a checkpoint record" in str(e.value)
    assert f"remove {work.root}" in str(e.value)


def test_a_tampered_meta_json_stops_the_cli_resume_with_exit_2(
    job: dict, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bertex.cli.main import main

    out = tmp_path / "m"
    killed_after_step_2(job, out, monkeypatch)
    meta = out.parent / "m.tune-state" / "state" / "meta.json"
    meta.write_text('{"step": 2, "precision": "bf1')  # cut short
    argv = tune_argv(job, out)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "meta.json" in err, err
    assert (meta.parent / "model.pt").is_file() and not out.exists()  # nothing lost
