"""kdlib.teachers: trained once, kept, resumed, shared — and the settings that name them.

Every teacher here is tiny (width 8, depth 2, batches of 32, a dozen epochs), so a training run
takes milliseconds. The references are independent computations: a run trained straight to an
epoch, an uninterrupted run, a hand-written fit on the documented seeds, and the Gaussian mixture
summed term by term. On the CPU the same operations run in the same order, so weights are
compared bit for bit (torch.equal).
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from kdlib import teachers
from kdlib.data import gaussian_inputs
from kdlib.nets import NTKMLP
from kdlib.teachers import GroundTruthSpec, ParentLabels, TeacherSpec
from kdlib.train import OnlineBatches, fit, latest_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TRUTH = GroundTruthSpec(modes=10, amplitude=1.0, width_scale=15.0, seed=2)


def tiny(name="t", *, epochs=12, keep=(0, 3, 5), labels=TRUTH, seed=0, **changes) -> TeacherSpec:
    fields = dict(name=name, width=8, depth=2, lr=1e-2, batch_size=32, steps_per_epoch=1, epochs=epochs,
                  keep_epochs=keep, labels=labels, seed=seed, test_samples=256)
    fields.update(changes)
    return TeacherSpec(**fields)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class Interrupted(Exception):
    """Raised by a callback to stand in for a kill in the middle of training."""


def test_checkpoint_at_an_epoch_equals_training_straight_to_it(tmp_path):
    long = tiny(epochs=12, keep=(5,))
    short = tiny(epochs=5, keep=())
    assert teachers.teacher_dir(long, tmp_path) != teachers.teacher_dir(short, tmp_path)
    stopped = teachers.get(long, 5, cache_dir=tmp_path, device="cpu")
    straight = teachers.get(short, 5, cache_dir=tmp_path, device="cpu")
    assert same_weights(stopped, straight)
    assert not same_weights(stopped, teachers.get(long, 12, cache_dir=tmp_path, device="cpu"))


def test_get_returns_a_frozen_eval_mode_logit_map_and_loads_afterwards(tmp_path):
    spec = tiny()
    model = teachers.get(spec, 12, cache_dir=tmp_path, device="cpu")
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert model(torch.zeros(7, 2)).shape == (7,)
    folder = teachers.teacher_dir(spec, tmp_path)
    assert folder.parent == tmp_path / "teachers" and folder.name.startswith("t-")
    assert sorted(p.name for p in folder.glob("epoch-*.pt")) == ["epoch-0.pt", "epoch-12.pt", "epoch-3.pt",
                                                                 "epoch-5.pt"]
    stamp = (folder / "epoch-12.pt").stat().st_mtime_ns
    again = teachers.get(spec, 12, cache_dir=tmp_path, device="cpu")  # loaded, not retrained
    assert same_weights(model, again) and (folder / "epoch-12.pt").stat().st_mtime_ns == stamp


def test_labels_agree_with_the_sign_of_the_ground_truth():
    x = gaussian_inputs(4096, generator=torch.Generator().manual_seed(1))
    f_g = teachers.ground_truth(TRUTH)
    # the mixture summed term by term, independently of GaussianMixture.__call__
    by_hand = sum(a * torch.exp(-((x - c) ** 2).sum(1) / s**2)
                  for a, c, s in zip(f_g.amplitudes, f_g.centers, f_g.widths, strict=True))
    labels = teachers.label_function(TRUTH)(x)
    assert set(labels.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(labels, (by_hand > 0).to(x.dtype))
    assert 0.3 < labels.mean().item() < 0.7  # the chosen seed has balanced classes
    as_float32 = teachers.label_function(TRUTH)(x.float())
    assert as_float32.dtype == torch.float32


def test_resuming_after_a_kill_gives_the_same_teacher(tmp_path):
    spec = tiny(epochs=12, keep=(3, 5))

    def kill(state):
        raise Interrupted

    with pytest.raises(Interrupted):
        teachers.get(spec, 12, cache_dir=tmp_path / "killed", device="cpu", _callbacks=[(7, kill)])
    folder = teachers.teacher_dir(spec, tmp_path / "killed")
    assert latest_checkpoint(folder) is not None and not teachers.is_trained(spec, cache_dir=tmp_path / "killed")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    resumed = teachers.get(spec, 12, cache_dir=tmp_path / "killed", device="cpu")
    assert torch.equal(torch.get_rng_state(), before)  # the resume did not reset the caller's generator
    assert teachers.history(spec, cache_dir=tmp_path / "killed")["resumed_from"] == 6  # the epoch before the kill
    whole = teachers.get(spec, 12, cache_dir=tmp_path / "whole", device="cpu")
    assert same_weights(resumed, whole)
    for epoch in (3, 5):
        assert same_weights(teachers.get(spec, epoch, cache_dir=tmp_path / "killed", device="cpu"),
                            teachers.get(spec, epoch, cache_dir=tmp_path / "whole", device="cpu"))
    killed, straight = (teachers.history(spec, cache_dir=tmp_path / d) for d in ("killed", "whole"))
    assert killed["test_error"] == straight["test_error"] and killed["loss_curve"] == straight["loss_curve"]


@pytest.mark.parametrize(("changes", "message"), [
    (dict(epochs=-1), "epochs must be an integer ≥ 0"),
    (dict(width=0), "width must be an integer ≥ 1"),
    (dict(lr=0.0), "lr must be a finite number > 0"),
    (dict(lr=math.nan), "lr must be a finite number > 0"),
    (dict(keep=(3, 20)), r"keep_epochs must lie in \[0, epochs = 12\], got 20"),
    (dict(keep=(-1,)), r"keep_epochs must lie in \[0, epochs = 12\], got -1"),
    (dict(name="a/b"), "name must be"),
])
def test_bad_specifications_are_rejected_when_built(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


@pytest.mark.parametrize(("epoch", "why"), [(13, r"beyond the trained range \[0, 12\]"), (-1, "negative"),
                                            (5.0, "not a whole epoch: float")])
def test_an_epoch_outside_the_run_names_the_teacher_and_the_range(tmp_path, epoch, why):
    with pytest.raises(ValueError, match=rf"teacher 't' has no weights at epoch {epoch} \({why}\): it trains 12 "
                                         r"epochs \(kept: \[0, 3, 5, 12\]"):
        teachers.get(tiny(), epoch, cache_dir=tmp_path, device="cpu")
    assert not (tmp_path / "teachers").exists()  # rejected before anything is trained
    with pytest.raises(ValueError, match="has no weights at epoch"):
        ParentLabels(tiny(), epoch)


def test_an_epoch_the_run_did_not_keep_is_trained_on_from_the_one_before_bit_identically(tmp_path):
    """Asking for epoch 4 of a run that kept 3 and 5 resumes at 3 and trains one epoch: the same weights
    as a run that kept 4, and nothing else of the run is retrained or changed."""
    spec = tiny()
    first = teachers.get(spec, 12, cache_dir=tmp_path / "a", device="cpu")
    folder = teachers.teacher_dir(spec, tmp_path / "a")
    kept_before = {path.name: path.read_bytes() for path in folder.glob("epoch-*.pt")}
    torch.manual_seed(7)
    state = torch.get_rng_state()
    extended = teachers.get(spec, 4, cache_dir=tmp_path / "a", device="cpu")
    assert torch.equal(torch.get_rng_state(), state)  # the caller's generator is untouched
    keeping_four = tiny(keep=(0, 3, 4, 5))
    assert same_weights(extended, teachers.get(keeping_four, 4, cache_dir=tmp_path / "b", device="cpu"))
    assert not same_weights(extended, teachers.get(spec, 3, cache_dir=tmp_path / "a", device="cpu"))
    assert {path.name: path.read_bytes() for path in folder.glob("epoch-*.pt") if path.name != "epoch-4.pt"} \
        == kept_before
    assert same_weights(first, teachers.get(spec, 12, cache_dir=tmp_path / "a", device="cpu"))
    assert not list(folder.glob(".extend-*"))  # the scratch folder is gone
    again = teachers.get(spec, 4, cache_dir=tmp_path / "a", device="cpu")  # kept now: loaded, not retrained
    assert same_weights(extended, again)


def test_other_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="modes must be an integer ≥ 1"):
        GroundTruthSpec(modes=0, amplitude=1.0, width_scale=15.0, seed=0)
    with pytest.raises(ValueError, match="need cache_dir="):
        teachers.label_function(ParentLabels(tiny(), 12))
    with pytest.raises(ValueError, match="labels must be a GroundTruthSpec or ParentLabels"):
        tiny(labels="f_g")


def test_a_parent_labelled_teacher_learns_its_parents_labels(tmp_path):
    parent = tiny("parent", epochs=12)
    child = tiny("child", epochs=6, keep=(), labels=ParentLabels(parent, 5), seed=3)
    got = teachers.get(child, 6, cache_dir=tmp_path, device="cpu")
    # the same run by hand, on the documented seeds, labelled by the parent stopped at epoch 5
    teacher = teachers.get(parent, 5, cache_dir=tmp_path, device="cpu")
    model = NTKMLP(2, 2, 8, generator=torch.Generator().manual_seed(6))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.999))

    def sample(n, generator):
        x = gaussian_inputs(n, generator=generator, dtype=torch.float32)
        return x, (teacher(x) > 0).float()

    fit(model, lambda m, b: nn.functional.binary_cross_entropy_with_logits(m(b[0]), b[1]), optimizer,
        OnlineBatches(sample, 32), epochs=6, generator=torch.Generator().manual_seed(7))
    assert same_weights(got, model.eval())
    x = gaussian_inputs(512, generator=torch.Generator().manual_seed(9), dtype=torch.float32)
    labels = teachers.label_function(child.labels, cache_dir=tmp_path, device="cpu")(x)
    assert torch.equal(labels, (teacher(x) > 0).float())
    assert not torch.equal(labels, teachers.label_function(TRUTH)(x))  # an imperfect parent: not f_g's labels
    record = teachers.history(child, cache_dir=tmp_path)
    assert record["epochs"] == [6] and "ground_truth_error" in record
    assert record["test_error"][0] == teachers.test_error(got, child.labels, n=256, cache_dir=tmp_path)[0]
    assert teachers.root_ground_truth(child) == TRUTH


def test_test_error_counts_disagreements_on_a_fixed_sample():
    model = NTKMLP(2, 2, 8, generator=torch.Generator().manual_seed(0)).eval()
    p, se = teachers.test_error(model, lambda x: (model(x) > 0).to(x.dtype), n=1000)
    assert (p, se) == (0.0, 0.0)
    p, se = teachers.test_error(model, lambda x: (model(x) <= 0).to(x.dtype), n=1000)
    assert (p, se) == (1.0, 0.0)
    p, se = teachers.test_error(model, TRUTH, n=4000, seed=3)
    x = gaussian_inputs(4000, generator=torch.Generator().manual_seed(teachers.TEST_SEED_OFFSET + 3))
    with torch.no_grad():
        expected = ((model(x.float()) > 0) != (teachers.ground_truth(TRUTH)(x) > 0)).double().mean().item()
    assert p == pytest.approx(expected, abs=1 / 4000) and se == pytest.approx(math.sqrt(p * (1 - p) / 4000))
    assert teachers.test_error(model, TRUTH, n=4000, seed=3) == (p, se)  # the same points every time


def test_spec_hash_is_stable_across_processes_and_changes_with_every_field():
    spec = tiny(labels=ParentLabels(tiny("parent"), 5))
    code = ("from kdlib.teachers import *\n"
            "t = GroundTruthSpec(modes=10, amplitude=1.0, width_scale=15.0, seed=2)\n"
            "p = TeacherSpec('parent', 8, 2, 1e-2, 32, 1, 12, (0, 3, 5), t, 0, 256)\n"
            "print(spec_hash(TeacherSpec('t', 8, 2, 1e-2, 32, 1, 12, (0, 3, 5), ParentLabels(p, 5), 0, 256)))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "12345", "PATH": ""}, cwd=ROOT)
    assert other.stdout.strip() == teachers.spec_hash(spec)
    variants = {
        "name": "u", "width": 9, "depth": 3, "lr": 1e-2 + 1e-17 if 1e-2 + 1e-17 != 1e-2 else 1.1e-2,
        "batch_size": 33, "steps_per_epoch": 2, "epochs": 13, "keep_epochs": (0, 3), "seed": 1,
        "test_samples": 257,
    }
    assert set(variants) | {"labels"} == {f.name for f in dataclasses.fields(TeacherSpec)}
    hashes = {teachers.spec_hash(spec)}
    hashes |= {teachers.spec_hash(dataclasses.replace(spec, **{k: v})) for k, v in variants.items()}
    parent = spec.labels.teacher
    hashes.add(teachers.spec_hash(dataclasses.replace(spec, labels=ParentLabels(parent, 3))))
    hashes.add(teachers.spec_hash(dataclasses.replace(spec, labels=TRUTH)))
    for name, value in (("modes", 11), ("amplitude", 2.0), ("width_scale", 14.0), ("seed", 3)):
        truth = dataclasses.replace(TRUTH, **{name: value})
        hashes.add(teachers.spec_hash(dataclasses.replace(spec, labels=ParentLabels(
            dataclasses.replace(parent, labels=truth), 5))))
    assert len(hashes) == 1 + len(variants) + 2 + 4
    assert hash(spec) == hash(tiny(labels=ParentLabels(tiny("parent"), 5)))  # hashable, equal specs equal
    assert dataclasses.asdict(spec)["labels"]["teacher"]["labels"]["modes"] == 10


def test_two_callers_at_once_train_the_teacher_once(tmp_path, monkeypatch):
    calls = []
    train = teachers._train

    def counting(*args, **kwargs):
        calls.append(1)
        return train(*args, **kwargs)

    monkeypatch.setattr(teachers, "_train", counting)
    spec = tiny(epochs=40, keep=())
    results = [None, None]

    def ask(i):
        results[i] = teachers.get(spec, 40, cache_dir=tmp_path, device="cpu")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and same_weights(*results)


def test_shared_teacher_settings_derive_labels_and_check_stopping_epochs():
    from kdlib.book import profiles
    from kdlib.book.chapters import TEACHERS

    for profile, settings in TEACHERS.items():
        assert settings.fig2.labels == settings.ground_truth
        assert settings.fig4.labels == settings.fig5.labels == ParentLabels(settings.fig2, settings.fig2.epochs)
        assert settings.fig4_stop in settings.fig4.keep_epochs and settings.fig5_stop in settings.fig5.keep_epochs
        assert all(2**k - 1 in settings.fig4.keep_epochs for k in range(settings.fig4_stop.bit_length() + 1)), profile
    paper = TEACHERS["paper"]
    assert (paper.fig4_stop, paper.fig5_stop, paper.reduction) == (511, 5113, 0.3)
    assert (paper.fig2.width, paper.fig2.depth, paper.fig2.batch_size, paper.fig2.lr) == (1024, 5, 4096, 5e-4)
    assert (paper.fig4.lr, paper.fig4.epochs, paper.fig5.lr, paper.fig5.epochs) == (1e-2, 32768, 1e-4, 10240)
    cfg = profiles.resolve("s4-teachers", "quick", device="cpu", **{"teachers.fig2.width": "64",
                                                                    "teachers.ground_truth.seed": "5"})
    assert cfg.teachers.fig4.labels.teacher == cfg.teachers.fig2 and cfg.teachers.fig2.width == 64
    assert cfg.teachers.fig5.labels.teacher.labels.seed == 5
    assert profiles.resolve("s4-teachers", "quick", device="cpu", **{"teachers.fig4_stop": 100}).teachers.fig4_stop \
        == 100  # between kept epochs: trained on from the kept one before it when asked for
    with pytest.raises(ValueError, match="fig4_stop = 5000 is outside the run of teacher 'fig4': it trains 1024"):
        profiles.resolve("s4-teachers", "quick", device="cpu", **{"teachers.fig4_stop": 5000})
    with pytest.raises(ValueError, match="no setting 'teachers.fig4.labels"):
        profiles.resolve("s4-teachers", "quick", device="cpu", **{"teachers.fig4.labels.epoch": 3})
