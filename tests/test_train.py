"""kdlib.train.fit: resume after a kill, checkpoints, divergence, online batches, arguments.

The reference for every resume and checkpoint test is an independent, uninterrupted run of the
same training from the same seeds: on CPU the two must agree bit for bit (torch.equal), since the
same floating-point operations run in the same order on the same inputs. The models are tiny so
that the whole file runs in seconds; the subprocess test spends most of its time importing torch.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from kdlib import NTKMLP
from kdlib.train import (
    OnlineBatches,
    TensorBatches,
    TrainingDiverged,
    checkpoint_path,
    fit,
    latest_checkpoint,
    load_checkpoint,
    record_metrics,
)

ROOT = Path(__file__).resolve().parents[1]


class Interrupted(Exception):
    """Raised by a callback to stand in for a crash in the middle of training."""


# ---------------------------------------------------------------------------------------------
# A small ResNet-like setting: fixed data, shuffled mini-batches, augmentation, dropout, scheduler
# ---------------------------------------------------------------------------------------------


def image_like_run(checkpoint_dir=None, *, epochs=6, callbacks=(), device="cpu", **kwargs):
    """Every random choice of a fixed-data run: init, data, shuffling, augmentation (generator) and
    dropout (torch's global generator). Returns the fit result and the objects it trained."""
    torch.manual_seed(100)  # dropout draws from the global generator
    init = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 4))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.5 * torch.randn(parameter.shape, generator=init))
    model.to(device)
    x = torch.randn(30, 3, generator=init)
    y = torch.randint(0, 4, (30,), generator=init)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=24)

    def augment(batch, generator):  # a random sign flip per sample, like a horizontal flip
        x, y = batch
        flips = torch.randint(0, 2, (x.shape[0], 1), generator=generator).to(x.device) * 2 - 1
        return x * flips, y

    result = fit(model, lambda m, batch: nn.functional.cross_entropy(m(batch[0]), batch[1]), optimizer,
                 TensorBatches(x, y, batch_size=8), epochs=epochs, scheduler=scheduler, transform=augment,
                 generator=torch.Generator().manual_seed(1), checkpoint_dir=checkpoint_dir,
                 callbacks=[(range(0, epochs + 1, 2), record_metrics(norm=lambda m: m[0].weight.norm())),
                            *callbacks], **kwargs)
    return result, model, optimizer, scheduler


def assert_same_state(model_a, model_b, optimizer_a=None, optimizer_b=None):
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    if optimizer_a is not None:
        state_a, state_b = optimizer_a.state_dict()["state"], optimizer_b.state_dict()["state"]
        for key in state_a:
            for name in state_a[key]:
                assert torch.equal(torch.as_tensor(state_a[key][name]), torch.as_tensor(state_b[key][name])), name


def test_interrupted_run_resumes_bit_identical_to_uninterrupted(tmp_path):
    reference, model, optimizer, scheduler = image_like_run(tmp_path / "straight", checkpoint_epochs=range(7))
    global_state = torch.get_rng_state()

    def crash(state):
        raise Interrupted

    with pytest.raises(Interrupted):
        image_like_run(tmp_path / "crashed", checkpoint_epochs=range(7), callbacks=[(4, crash)])
    # the callbacks of epoch 4 run before its checkpoint, so the newest one is epoch 3's
    assert torch.load(latest_checkpoint(tmp_path / "crashed"), weights_only=True)["epoch"] == 3
    # image_like_run seeds the global generator as at epoch 0: dropout after epoch 3 agrees only if
    # the resumed run restores the global generator's state of epoch 3 from the checkpoint
    resumed, model_r, optimizer_r, scheduler_r = image_like_run(tmp_path / "crashed", checkpoint_epochs=range(7))
    assert resumed.resumed_from == 3 and resumed.step == reference.step == 24
    assert resumed.samples == 3 * 30 and reference.samples == 6 * 30  # samples this call trained on
    assert_same_state(model, model_r, optimizer, optimizer_r)
    assert scheduler.state_dict() == scheduler_r.state_dict()
    assert resumed.history == reference.history  # losses and metrics, bit-identical floats
    assert torch.equal(torch.get_rng_state(), global_state)
    # a finished run returns at once, trains nothing and leaves the model as it was
    again, model_a, _, _ = image_like_run(tmp_path / "crashed", checkpoint_epochs=range(7))
    assert again.resumed_from == 6 and again.samples == 0 and again.samples_per_second == 0.0
    assert_same_state(model, model_a)


def test_checkpoint_at_an_epoch_equals_training_straight_to_it(tmp_path):
    long_run, *_ = image_like_run(tmp_path / "long", epochs=6, keep_epochs={2, 5})
    assert sorted(p.name for p in (tmp_path / "long").iterdir()) == ["epoch-2.pt", "epoch-5.pt", "last.pt"]
    for stop in (2, 5):
        short_run, model, optimizer, _ = image_like_run(None, epochs=stop)
        fresh = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 4))
        fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=0.05)
        checkpoint = load_checkpoint(checkpoint_path(tmp_path / "long", stop), fresh, fresh_optimizer)
        assert checkpoint["epoch"] == stop and checkpoint["step"] == 4 * stop
        assert_same_state(model, fresh, optimizer, fresh_optimizer)
        assert checkpoint["history"] == short_run.history.rows
    assert long_run.history.epochs("norm") == [0, 2, 4, 6] and long_run.history.epochs("loss") == [1, 2, 3, 4, 5, 6]


def test_resume_takes_an_epoch_file_newer_than_last(tmp_path):
    # a kill between writing epoch-4.pt and the last.pt of epoch 4 leaves last.pt at epoch 3
    def crash(state):
        raise Interrupted

    with pytest.raises(Interrupted):
        image_like_run(tmp_path, checkpoint_epochs=range(7), keep_epochs={3, 4}, callbacks=[(5, crash)])
    os.replace(checkpoint_path(tmp_path, 3), checkpoint_path(tmp_path))
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 4)
    resumed, model, *_ = image_like_run(tmp_path, checkpoint_epochs=range(7), keep_epochs={3, 4})
    assert resumed.resumed_from == 4
    _, straight, *_ = image_like_run(None)
    assert_same_state(model, straight)


def test_max_steps_stops_inside_an_epoch_and_resumes_as_finished(tmp_path):
    seen = []

    def log(state):
        state.history.record(state.epoch, state.step, seen=1.0)
        seen.append((state.epoch, state.step))

    result, model, *_ = image_like_run(tmp_path, epochs=3, max_steps=10, step_callbacks={range(0, 11, 4): log})
    assert (result.epoch, result.step, result.samples) == (2, 10, 2 * 30 + 2 * 8)  # 2 epochs and 2 batches of 8
    assert seen == [(0, 0), (1, 4), (2, 8)]  # a step callback at an epoch's last step sees the epoch done
    assert result.history.epochs("loss") == [1, 2]  # the partial third epoch records no loss
    assert [(row["epoch"], row["step"]) for row in result.history.rows if "seen" in row] == seen
    again, model_again, *_ = image_like_run(tmp_path, epochs=3, max_steps=10, step_callbacks={range(0, 11, 4): log})
    assert again.resumed_from == 2 and again.step == 10 and again.samples == 0
    assert_same_state(model, model_again)
    with pytest.raises(ValueError, match="inside epoch 3"):
        image_like_run(tmp_path, epochs=3)


def test_progress_bar_reports_loss_and_throughput(capsys):
    model = nn.Linear(2, 1)
    result = fit(model, lambda m, batch: m(batch).square().mean(), torch.optim.SGD(model.parameters(), lr=1e-3),
                 OnlineBatches(sample_normal, 8), epochs=3, progress=True, desc="teacher")
    assert "teacher" in capsys.readouterr().err and result.samples == 24 and result.wall_time >= result.train_time


def test_epoch_loss_is_the_sample_weighted_mean_of_its_batch_losses():
    # recorded independently inside loss_fn; 30 samples in batches of 8, 8, 8, 6. Tolerance: the
    # two means sum the same float32 losses in different orders in float64, so they agree to ~1e-16.
    seen = []
    model = nn.Linear(2, 1)
    x, y = torch.randn(30, 2), torch.randn(30)

    def loss_fn(m, batch):
        loss = (m(batch[0])[:, 0] - batch[1]).square().mean()
        seen.append((loss.item(), batch[0].shape[0]))
        return loss

    result = fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.01), TensorBatches(x, y, batch_size=8),
                 epochs=2, generator=torch.Generator().manual_seed(0))
    for epoch in (1, 2):
        batches = seen[4 * (epoch - 1):4 * epoch]
        expected = sum(loss * count for loss, count in batches) / 30
        assert result.history["loss"][epoch - 1] == pytest.approx(expected, rel=1e-12)
    assert [count for _, count in seen] == [8, 8, 8, 6] * 2
    assert result.history.steps("loss") == [4, 8] and result.samples == 60 and result.samples_per_second > 0


# ---------------------------------------------------------------------------------------------
# An Eq. 1 teacher on online batches, killed by SIGKILL in another process
# ---------------------------------------------------------------------------------------------

TEACHER_EPOCHS = 40


def teacher_run(checkpoint_dir, *, slow=False):
    """An Eq. 1 teacher trained with Adam on hard labels of a ground truth, x ~ N(0, 5²I) fresh every step."""
    teacher = NTKMLP(2, 2, 16, generator=torch.Generator().manual_seed(3))
    optimizer = torch.optim.Adam(teacher.parameters(), lr=1e-2)

    def sample(count, generator):
        x = 5.0 * torch.randn(count, 2, generator=generator)
        return x, (torch.sin(x[:, 0]) * x[:, 1] > 0).float()

    def loss_fn(model, batch):
        return nn.functional.binary_cross_entropy_with_logits(model(batch[0]), batch[1])

    step_callbacks = [(range(TEACHER_EPOCHS * 2 + 1), lambda state: time.sleep(0.05))] if slow else []
    result = fit(teacher, loss_fn, optimizer, OnlineBatches(sample, batch_size=64, steps_per_epoch=2),
                 epochs=TEACHER_EPOCHS, generator=torch.Generator().manual_seed(4), checkpoint_dir=checkpoint_dir,
                 checkpoint_epochs=range(TEACHER_EPOCHS + 1), keep_epochs={3}, step_callbacks=step_callbacks)
    return result, teacher


def test_process_killed_mid_training_resumes_bit_identical(tmp_path):
    folder = tmp_path / "teacher"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, __file__, str(folder), str(torch.get_num_threads())], env=environment,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not checkpoint_path(folder, 3).exists():  # the child sleeps 0.05 s a step: ≥ 3.7 s still to go
            assert child.poll() is None, child.stdout.read().decode()
            assert time.monotonic() < deadline, "the child never wrote the checkpoint of epoch 3"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    resumed, teacher = teacher_run(folder)
    assert 3 <= resumed.resumed_from < TEACHER_EPOCHS  # killed mid-way, after epoch 3
    reference, straight = teacher_run(tmp_path / "straight")
    for (name, a), (_, b) in zip(teacher.named_parameters(), straight.named_parameters(), strict=True):
        assert torch.equal(a, b), name
    assert resumed.history == reference.history


# ---------------------------------------------------------------------------------------------
# Online batches, divergence, checkpoint format, arguments
# ---------------------------------------------------------------------------------------------


def test_online_batches_are_fresh_and_repeatable():
    def run(seed):
        seen = []
        model = nn.Linear(2, 1)

        def loss_fn(m, batch):
            seen.append(batch.clone())
            return m(batch).square().mean()

        result = fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=1e-3),
                     OnlineBatches(lambda n, g: 5.0 * torch.randn(n, 2, generator=g), batch_size=16,
                                   steps_per_epoch=2), epochs=3, generator=torch.Generator().manual_seed(seed))
        return seen, result

    first, result = run(0)
    assert len(first) == 6 and result.step == 6 and result.history.steps("loss") == [2, 4, 6]
    assert all(not torch.equal(a, b) for i, a in enumerate(first) for b in first[i + 1:])  # fresh every step
    assert all(torch.equal(a, b) for a, b in zip(first, run(0)[0], strict=True))  # same seed, same samples
    assert not torch.equal(first[0], run(1)[0][0])
    # the samples are N(0, 5²): 96 draws per coordinate give a sample std within ~4 standard errors of 5
    assert torch.cat(first).std().item() == pytest.approx(5.0, abs=4 * 5.0 / math.sqrt(2 * 192))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_raises_naming_its_step(tmp_path, bad):
    model = nn.Linear(2, 1)
    calls = []

    def loss_fn(m, batch):
        calls.append(1)
        loss = m(batch[0]).square().mean()
        return loss * bad if len(calls) == 6 else loss  # step 6 is the 2nd of epoch 2 (4 steps an epoch)

    with pytest.raises(TrainingDiverged, match=r"loss is (nan|inf) at step 6 \(epoch 2\)") as caught:
        fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=1e-3), TensorBatches(torch.randn(16, 2),
            batch_size=4), epochs=3, checkpoint_dir=tmp_path, checkpoint_epochs=range(4))
    assert (caught.value.step, caught.value.epoch, caught.value.quantity) == (6, 2, "loss")
    assert torch.load(checkpoint_path(tmp_path), weights_only=True)["epoch"] == 1  # nothing saved after it


def test_non_finite_parameter_raises_at_the_end_of_its_epoch():
    # an infinite learning rate sends the weights to ±inf (or NaN) while the loss of step 1 was finite
    model = nn.Linear(2, 1)
    with pytest.raises(TrainingDiverged, match=r"parameter '(weight|bias)' is .* at step 1 \(epoch 1\)"):
        fit(model, lambda m, batch: m(batch[0]).square().mean(), torch.optim.SGD(model.parameters(), lr=math.inf),
            TensorBatches(torch.randn(16, 2)), epochs=3)


def test_finite_parameters_whose_sum_overflows_are_not_divergence():
    # the parameter screen sums |w| per tensor; 4 × 3e38 overflows float32 to inf, but every entry
    # is finite, so the exact confirmation must let training go on
    model = nn.Linear(2, 1)
    model.register_parameter("large", nn.Parameter(torch.full((4,), 3e38)))
    result = fit(model, lambda m, batch: m(batch[0]).square().mean(), torch.optim.SGD(model.parameters(), lr=1e-3),
                 TensorBatches(torch.randn(16, 2)), epochs=2)
    assert result.epoch == 2 and torch.isinf(model.large.detach().abs().sum())


def test_checkpoints_load_with_weights_only_and_hold_the_whole_state(tmp_path):
    result, model, optimizer, scheduler = image_like_run(tmp_path, epochs=2, keep_epochs={1})
    for path in (checkpoint_path(tmp_path), checkpoint_path(tmp_path, 1)):
        checkpoint = torch.load(path, weights_only=True)  # raises on anything but tensors and plain data
        assert set(checkpoint) == {"format", "model", "optimizer", "scheduler", "epoch", "step", "samples",
                                   "steps_per_epoch", "rng", "history"}
        assert set(checkpoint["rng"]) >= {"torch", "generator"}
        assert all(value.dtype == torch.uint8 for key, value in checkpoint["rng"].items() if key != "cuda")
        assert all(isinstance(value, int | float) for row in checkpoint["history"] for value in row.values())
    last = torch.load(checkpoint_path(tmp_path), weights_only=True)
    assert (last["epoch"], last["step"], last["samples"]) == (2, 8, 60)
    assert last["scheduler"] == scheduler.state_dict()
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary files were renamed into place


def sample_normal(n, g):
    return torch.randn(n, 2, generator=g)


@pytest.mark.parametrize(("change", "message"), [
    ({"epochs": -1}, "epochs must be an integer ≥ 0, got -1"),
    ({"epochs": 2.5}, "epochs must be an integer ≥ 0, got 2.5"),
    ({"max_steps": 11}, r"max_steps must be an integer in \[0, 10\], got 11"),
    ({"checkpoint_epochs": {6}}, r"checkpoint_epochs must be epochs in \[0, 5\], got 6"),
    ({"keep_epochs": [-1]}, r"keep_epochs must be epochs in \[0, 5\], got -1"),
    ({"max_steps": 7, "keep_epochs": {4}}, r"keep_epochs must be epochs in \[0, 3\], got 4"),
    ({"callbacks": {9: print}}, r"callbacks must be epochs in \[0, 5\], got 9"),
    ({"callbacks": [print]}, "callbacks must map epochs to callbacks"),
    ({"step_callbacks": {11: print}}, r"step_callbacks must be steps in \[0, 10\], got 11"),
    ({"loss_epochs": "all"}, "loss_epochs must be an integer or a collection of integers"),
    ({"generator": 0}, "generator must be a torch.Generator or None, got int"),
    ({"transform": 3}, "transform must be None or a callable"),
    ({"scheduler": "cosine"}, "scheduler must have step"),
    ({"checkpoint_dir": None, "checkpoint_epochs": {1}}, "need a checkpoint_dir, got checkpoint_dir=None"),
    ({"loss_fn": lambda m, batch: m(batch)}, "loss_fn must return a scalar tensor, got Tensor of shape"),
    ({"data": "x"}, "data must be TensorBatches, OnlineBatches or another BatchSource"),
])
def test_bad_arguments_name_the_parameter_its_value_and_what_is_allowed(tmp_path, change, message):
    model = nn.Linear(2, 1)
    arguments = {"loss_fn": lambda m, batch: m(batch).square().mean(), "optimizer": torch.optim.SGD(model.parameters(),
                 lr=0.1), "data": OnlineBatches(sample_normal, 4, steps_per_epoch=2), "epochs": 5,
                 "checkpoint_dir": tmp_path, **change}
    with pytest.raises(ValueError, match=message):
        fit(model, **arguments)


class ShortSource:
    """A BatchSource that breaks its promise of steps_per_epoch batches."""

    steps_per_epoch = 3

    def __init__(self, yielded):
        self.yielded = yielded

    def batches(self, generator):
        for _ in range(self.yielded):
            yield torch.randn(4, 2, generator=generator), 4


@pytest.mark.parametrize("yielded", [0, 2, 4])
def test_a_source_that_yields_the_wrong_number_of_batches_is_named(yielded):
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"yielded (2|0|more than).*steps_per_epoch = 3"):
        fit(model, lambda m, batch: m(batch).square().mean(), torch.optim.SGD(model.parameters(), lr=0.1),
            ShortSource(yielded), epochs=2)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: TensorBatches(torch.zeros(4, 2), batch_size=0), r"batch_size must be an integer in \[1, 4\], got 0"),
    (lambda: TensorBatches(torch.zeros(4, 2), torch.zeros(5)), "same number"),
    (lambda: OnlineBatches(sample_normal, 8, steps_per_epoch=0), "steps_per_epoch must be an integer ≥ 1, got 0"),
    (lambda: OnlineBatches(None, 8), "sample must be a callable"),
])
def test_bad_data_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    image_like_run(tmp_path, epochs=4)
    with pytest.raises(ValueError, match="past this run's end"):
        image_like_run(tmp_path, epochs=3)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 4))
    with pytest.raises(ValueError, match="steps per epoch"):
        fit(model, lambda m, batch: m(batch[0]).sum(), torch.optim.Adam(model.parameters()),
            TensorBatches(torch.zeros(30, 3), batch_size=10), epochs=5, checkpoint_dir=tmp_path)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_model_with_cpu_data_resumes(tmp_path):
    # batches move to the model's device; the CUDA kernels used here are deterministic, so the
    # resumed run matches the uninterrupted one exactly as on CPU
    reference, model, *_ = image_like_run(tmp_path / "straight", device="cuda", checkpoint_epochs=range(7))

    def crash(state):
        raise Interrupted

    with pytest.raises(Interrupted):
        image_like_run(tmp_path / "crashed", device="cuda", checkpoint_epochs=range(7), callbacks=[(4, crash)])
    resumed, model_r, *_ = image_like_run(tmp_path / "crashed", device="cuda", checkpoint_epochs=range(7))
    assert resumed.resumed_from == 3 and next(model_r.parameters()).is_cuda
    assert_same_state(model, model_r)


if __name__ == "__main__":  # the process that test_process_killed_mid_training_resumes_bit_identical kills
    torch.set_num_threads(int(sys.argv[2]))
    teacher_run(Path(sys.argv[1]), slow=True)
