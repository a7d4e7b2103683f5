"""kdlib.distill (the teacher and student tasks of Fig. 5 left / Fig. S1) and the helpers the chapter uses.

Independent references: brute-force class counts for the stratified order; the one-cycle recipe
rebuilt here from torch's own classes for the from-scratch student; an uninterrupted run for the
resumed one; Student-t quantiles from tables; CIFAR-10 files written byte by byte in the documented
layout. The networks are tiny (width 2–4, a few steps), so every test takes about a second on one thread.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as nnf

from kdlib import distill
from kdlib._device import worker_device
from kdlib.images import CIFAR10_ENV, CIFAR10_FILES, channel_stats, normalize
from kdlib.losses import multiclass_kd_loss
from kdlib.resnet import resnet
from kdlib.stats import mean_estimate
from kdlib.train import LAST, TensorBatches, fit

TINY = dict(epochs=2, min_steps=0, batch_size=64, lr=0.1, momentum=0.9, weight_decay=5e-4, warmup=0.25)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks on a shared 2-core machine: one thread avoids OpenMP contention (see test_resnet)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    spec, data = distill.dataset_spec("digits", test_fraction=0.5, split_seed=0)
    return spec, data


@pytest.fixture(scope="module")
def teacher(digits):
    spec, _ = digits
    return distill.train_teacher(data=spec, arch="resnet18", width=4, schedule=TINY, seed=0, device="cpu")


# ----------------------------------------------------------------------------------------------- the recipe


def test_schedule_names_unknown_and_out_of_range_settings():
    assert distill.Schedule.from_mapping(TINY).as_dict() == TINY
    with pytest.raises(ValueError, match="no setting"):
        distill.Schedule.from_mapping({**TINY, "label_smoothing": 0.1})
    for name, value in (("epochs", 0), ("batch_size", 2.5), ("lr", 0.0), ("momentum", 1.0), ("warmup", 1.0),
                        ("weight_decay", -1e-4), ("lr", math.nan), ("min_steps", True)):
        with pytest.raises(ValueError, match=f"schedule {name}"):
            distill.Schedule.from_mapping({**TINY, name: value})


@pytest.mark.parametrize(("n", "batch", "epochs", "min_steps", "expected"), [
    (899, 64, 8, 112, (64, 14, 8)),  # quick: 14 full batches × 8 epochs = 112 steps
    (112, 64, 8, 112, (64, 1, 112)),  # a small subset gets more epochs to reach min_steps
    (225, 64, 8, 112, (64, 3, 38)),  # ⌈112 / 3⌉ = 38
    (40, 64, 8, 0, (40, 1, 8)),  # fewer samples than a batch: one full batch per epoch
    (50_000, 512, 30, 1000, (512, 97, 30)),  # paper: the last 336 images of each epoch's order are dropped
])
def test_training_length_gives_full_batches_and_at_least_min_steps(n, batch, epochs, min_steps, expected):
    schedule = {**TINY, "batch_size": batch, "epochs": epochs, "min_steps": min_steps}
    assert distill.training_length(n, schedule) == expected
    _, per_epoch, total_epochs = expected
    assert per_epoch * total_epochs >= min_steps


# ----------------------------------------------------------------------------------------------- the subsets


@pytest.mark.parametrize("sizes", [(50, 30, 15, 5), (1, 1, 97), (7, 7, 7, 7, 7, 7, 7, 7, 7, 8), (3, 200)])
def test_stratified_order_prefixes_are_proportional_and_nested(sizes):
    """Tijdeman's bound |count_c(n) − n·s_c| ≤ 1 − 1/(2(C − 1)), checked by brute force on every prefix."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.cat([torch.full((size,), c) for c, size in enumerate(sizes)])
    labels = labels[torch.randperm(len(labels), generator=generator)]
    order = distill.stratified_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(len(labels)))  # a permutation: nested prefixes by construction
    shares = torch.tensor(sizes, dtype=torch.float64) / len(labels)
    bound = 1 - 1 / (2 * (len(sizes) - 1))
    for n in range(1, len(labels) + 1):
        counts = torch.bincount(labels[order[:n]], minlength=len(sizes))
        assert (counts - n * shares).abs().max() <= bound + 1e-12, n
    assert torch.equal(order, distill.stratified_order(labels, seed=3))
    assert not torch.equal(order, distill.stratified_order(labels, seed=4))


# ----------------------------------------------------------------------------------------------- the tasks


def test_teacher_result_is_plain_data_and_learns(teacher, digits):
    _, data = digits
    assert set(teacher) >= {"arch", "width", "state_dict", "test_error", "train_error", "images_per_second"}

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return isinstance(value, int | float | str | torch.Tensor) and not isinstance(value, bool)

    assert plain(teacher)  # the result cache stores data only, never pickles
    assert all(t.device.type == "cpu" for t in teacher["state_dict"].values())
    assert teacher["test_error"] < 0.5  # 28 steps of a width-4 ResNet-18 already beat chance (0.9) by far
    model = resnet("resnet18", width=4, in_channels=1)
    model.load_state_dict(teacher["state_dict"])  # the weights load back into the architecture they name


def test_student_from_scratch_is_the_documented_recipe(digits):
    """ρ = 0 trained by the task equals the recipe rebuilt here from torch's classes: the subset is the
    first n of stratified_order(3·seed), the weights come from generator 3·seed + 1, batches and their
    order from generator 3·seed + 2, SGD with constant Nesterov momentum under OneCycleLR, digits normalised with
    the channel statistics of the whole training set."""
    spec, data = digits
    seed, n = 5, 200
    result = distill.train_student(data=spec, arch="resnet18", width=2, schedule=TINY, n=n, seed=seed, rho=0.0,
                                   T=4.0, device="cpu")
    index = distill.stratified_order(data.train_labels, 3 * seed)[:n]
    mean, std = (stat.float() for stat in channel_stats(data.train_images))
    images = normalize(data.train_images[index], mean, std)
    model = resnet("resnet18", width=2, in_channels=1, generator=torch.Generator().manual_seed(3 * seed + 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, pct_start=0.25, total_steps=2 * 3,
                                                    cycle_momentum=False)
    fit(model, lambda m, b: nnf.cross_entropy(m(b[0]), b[1]), optimizer,
        TensorBatches(images, data.train_labels[index], batch_size=64, drop_last=True), epochs=2, scheduler=scheduler,
        generator=torch.Generator().manual_seed(3 * seed + 2))
    model.eval()
    with torch.no_grad():
        wrong = (model(normalize(data.test_images, mean, std)).argmax(1) != data.test_labels).sum().item()
    assert result["steps"] == 6 and result["n"] == n
    assert result["test_error"] == wrong / len(data.test_labels)  # the same arithmetic: exactly the same answer


def test_distilled_student_is_repeatable_and_rho_changes_it(digits, teacher):
    spec, _ = digits
    task = dict(data=spec, arch="resnet18", width=2, schedule=TINY, n=300, seed=1, T=4.0, teacher=teacher,
                device="cpu")
    first = distill.train_student(rho=0.5, **task)
    again = distill.train_student(rho=0.5, **task)
    soft = distill.train_student(rho=1.0, **task)
    assert first["final_loss"] == again["final_loss"] and first["test_error"] == again["test_error"]
    assert soft["final_loss"] != first["final_loss"]
    assert math.isfinite(first["final_loss"]) and first["rho"] == 0.5 and first["T"] == 4.0


def test_student_arguments_are_checked(digits, teacher):
    spec, data = digits
    task = dict(data=spec, arch="resnet18", width=2, schedule=TINY, seed=0, T=4.0, device="cpu")
    with pytest.raises(ValueError, match="needs a teacher"):
        distill.train_student(n=100, rho=0.5, **task)
    with pytest.raises(ValueError, match="n must be an integer in"):
        distill.train_student(n=len(data.train_labels) + 1, rho=0.0, **task)
    with pytest.raises(ValueError, match="rho must be"):
        distill.train_student(n=100, rho=1.5, teacher=teacher, **task)
    with pytest.raises(ValueError, match="source must be"):
        distill.dataset_spec("mnist")


def test_interrupted_teacher_resumes_to_the_uninterrupted_weights(digits, tmp_path, monkeypatch):
    spec, _ = digits
    task = dict(data=spec, arch="resnet18", width=2, schedule={**TINY, "epochs": 3}, seed=2, device="cpu")
    whole = distill.train_teacher(**task)

    real_fit = distill.fit

    def killed(_state):
        raise KeyboardInterrupt

    def stopped_after_one_epoch(*args, **kwargs):  # killed one step after its first epoch's checkpoint
        return real_fit(*args, **kwargs, step_callbacks=[(args[3].steps_per_epoch + 1, killed)])

    monkeypatch.setattr(distill, "fit", stopped_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        distill.train_teacher(checkpoint_dir=tmp_path, **task)
    monkeypatch.setattr(distill, "fit", real_fit)
    resumed = distill.train_teacher(checkpoint_dir=tmp_path, **task)
    assert resumed["resumed_from"] == 1 and whole["resumed_from"] == -1
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name  # bit-identical on the CPU
    assert (tmp_path / LAST).exists()  # a teacher keeps its checkpoint


def test_student_deletes_its_checkpoint_when_done(digits, tmp_path):
    spec, _ = digits
    distill.train_student(data=spec, arch="resnet18", width=2, schedule=TINY, n=128, seed=0, rho=0.0, T=4.0,
                          device="cpu", checkpoint_dir=tmp_path)
    assert not (tmp_path / LAST).exists()


def test_fast_path_runs_on_the_cpu(digits):
    """bfloat16 autocast and channels-last, as on CUDA, exercised here on the CPU: the same network gives
    the same loss to bfloat16's precision, and a run on the fast path trains (finite, below chance).

    (Two whole runs are not compared: their trajectories part after a few rounding differences, and
    their final losses differed by 10 % with nothing wrong.)"""
    spec, _ = digits
    data = distill._on_device(distill._spec_key(spec), "cpu")
    images, labels = data.test_images[:256], data.test_labels[:256]
    exact_model = distill._build("resnet18", 2, data, 0, torch.device("cpu"), distill.Speed()).eval()
    fast_model = distill._build("resnet18", 2, data, 0, torch.device("cpu"),
                                distill.Speed(bf16=True, channels_last=True)).eval()
    with torch.no_grad():
        exact = torch.nn.functional.cross_entropy(exact_model(images), labels)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = torch.nn.functional.cross_entropy(
                fast_model(images.contiguous(memory_format=torch.channels_last)).float(), labels)
    assert fast.item() == pytest.approx(exact.item(), rel=0.02)  # bf16 keeps 8 bits: ~0.4 % per operation
    speed = distill.Speed(bf16=True, channels_last=True)
    model = distill._build("resnet18", 2, data, 0, torch.device("cpu"), speed)
    run = distill._fit(model, model, data, torch.arange(256), distill.Schedule(**TINY), seed=0, rho=0.0, T=1.0,
                       teacher=None, speed=speed, progress=False, desc="", checkpoint_dir=None, checkpoints=1)
    assert math.isfinite(run["final_loss"]) and run["final_loss"] < math.log(data.num_classes)


def test_time_kd_step_times_a_student_with_its_teacher():
    seconds = distill.time_kd_step("resnet18", 2, teacher_arch="resnet50", teacher_width=2, batch_size=4,
                                   image_size=8, device="cpu", steps=1, warmup=1)
    assert 0 < seconds < 60


def test_worker_device_is_resolve_device_outside_dask():
    assert worker_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert worker_device("auto") == torch.device("cpu")


def test_worker_device_gives_a_dask_worker_its_own_gpu(monkeypatch):
    """The rule of kdlib.book.executor.task_device, on a pretend 4-GPU node (no dask, no GPU needed)."""
    import sys
    import types

    from kdlib import _device

    monkeypatch.setattr(_device, "resolve_device", lambda device: torch.device(str(device).replace("auto", "cuda")))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    names = iter([6, "SLURMCluster-3-1", "SLURMCluster-7", "tcp://a:1"])
    fake = types.SimpleNamespace(get_worker=lambda: types.SimpleNamespace(name=next(names)))
    monkeypatch.setitem(sys.modules, "distributed", fake)
    assert [worker_device("cuda") for _ in range(4)] == [torch.device("cuda", k) for k in (2, 1, 3, 0)]
    assert worker_device("cuda:1") == torch.device("cuda:1")  # an explicit choice is kept

    def no_worker():
        raise ValueError("no worker")

    monkeypatch.setitem(sys.modules, "distributed", types.SimpleNamespace(get_worker=no_worker))
    assert worker_device("auto") == torch.device("cuda")


# ----------------------------------------------------------------------------------------------- CIFAR-10


def write_fake_cifar(root, records=20, seed=0):
    """Six files in the binary layout: per record a label byte, then 1024 red, green and blue bytes."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for name in CIFAR10_FILES:
        labels = np.arange(records, dtype=np.uint8) % 10
        pixels = rng.integers(0, 256, (records, 3 * 32 * 32), dtype=np.uint8)
        np.concatenate([labels[:, None], pixels], axis=1).tofile(folder / name)
    return folder


def test_cifar_spec_is_keyed_by_content_and_read_from_the_environment(tmp_path, monkeypatch):
    folder = write_fake_cifar(tmp_path)
    spec, data = distill.dataset_spec("cifar10", folder=tmp_path, records_per_file=20)
    assert set(spec["sha256"]) == set(CIFAR10_FILES) and str(tmp_path) not in str(spec)  # bytes, not a path
    assert data.train_images.shape == (100, 3, 32, 32) and data.test_images.shape == (20, 3, 32, 32)
    distill._LOADED.clear()
    monkeypatch.delenv(CIFAR10_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="cifar-10-binary.tar.gz"):  # says where to get the data
        distill.load_dataset(spec)
    monkeypatch.setenv(CIFAR10_ENV, str(folder))
    assert torch.equal(distill.load_dataset(spec).train_images, data.train_images)
    distill._LOADED.clear()
    with open(folder / "test_batch.bin", "r+b") as handle:  # one altered pixel
        handle.seek(5)
        handle.write(b"\x00" if handle.read(1) != b"\x00" else b"\x01")
    with pytest.raises(ValueError, match="SHA-256"):
        distill.load_dataset(spec)


def test_cifar_student_distils_online_on_augmented_batches(tmp_path, monkeypatch):
    """With augmentation the teacher runs on every augmented batch: one step at ρ = 1 must equal a step on
    the KD loss against the teacher's logits of exactly those augmented, normalised images."""
    folder = write_fake_cifar(tmp_path)
    monkeypatch.setenv(CIFAR10_ENV, str(folder))
    spec, _ = distill.dataset_spec("cifar10", folder=folder, records_per_file=20)
    one_step = {**TINY, "epochs": 1, "batch_size": 100}
    teacher = distill.train_teacher(data=spec, arch="resnet18", width=2, schedule=one_step, seed=0, device="cpu")
    seen = []
    real = distill.multiclass_kd_loss

    def spy(student_logits, teacher_logits, labels, **kwargs):
        seen.append(teacher_logits.detach().clone())
        return real(student_logits, teacher_logits, labels, **kwargs)

    monkeypatch.setattr(distill, "multiclass_kd_loss", spy)
    result = distill.train_student(data=spec, arch="resnet18", width=2, schedule=one_step, n=100, seed=0, rho=1.0,
                                   T=4.0, teacher=teacher, device="cpu")
    assert result["steps"] == 1 and len(seen) == 1
    # rebuild the batch: same order and augmentation stream as the task, the teacher in eval mode
    data = distill._on_device(distill._spec_key(spec), "cpu")
    generator = torch.Generator().manual_seed(3 * 0 + 2)
    index = distill.stratified_order(data.train_labels, 0)[:100]
    order = torch.randperm(100, generator=generator)
    images = data.prepare(data.train_images[index][order], generator)
    model = resnet("resnet18", width=2)
    model.load_state_dict(teacher["state_dict"])
    with torch.no_grad():
        assert torch.allclose(seen[0], model.eval()(images), atol=1e-5)


# ----------------------------------------------------------------------------------------------- small helpers


def test_lower_bound_uses_student_t_quantiles():
    estimate = mean_estimate(torch.tensor([1.0, 2.0, 3.0]))  # mean 2, sem 1/√3
    assert estimate.lower_bound(0.95).item() == pytest.approx(2 - 2.919986 / math.sqrt(3), rel=1e-6)  # t(0.95, 2)
    five = mean_estimate(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert five.lower_bound(0.975).item() == pytest.approx(3 - 2.776445 * five.sem.item(), rel=1e-6)  # t(0.975, 4)
    with pytest.raises(ValueError, match="confidence"):
        estimate.lower_bound(1.0)


def test_unchecked_labels_change_nothing_but_the_value_check():
    generator = torch.Generator().manual_seed(0)
    z_s, z_t = torch.randn(8, 5, generator=generator), torch.randn(8, 5, generator=generator)
    labels = torch.randint(0, 5, (8,), generator=generator)
    checked = multiclass_kd_loss(z_s, z_t, labels, rho=0.3, T=2.0)
    assert torch.equal(checked, multiclass_kd_loss(z_s, z_t, labels, rho=0.3, T=2.0, check_labels=False))
    with pytest.raises(ValueError, match="class indices in"):
        multiclass_kd_loss(z_s, z_t, labels + 5, rho=0.3, T=2.0)
    with pytest.raises(ValueError, match="shape"):  # shapes are still checked
        multiclass_kd_loss(z_s, z_t, labels[:3], rho=0.3, T=2.0, check_labels=False)
