"""kdlib.images: the CIFAR-10 binary reader on synthetic files, digits, augmentation, normalisation, batches.

The reader is checked against records written here byte by byte in the documented layout (label,
then the red, green and blue planes, rows of 32); crops against an explicit ``torch.nn.functional.pad``
and a brute-force search over all windows; statistics against numpy.
"""

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as nnf

from kdlib.images import (
    CIFAR10_ARCHIVE_MD5,
    CIFAR10_ENV,
    CIFAR10_FILES,
    CIFAR10_URL,
    InMemoryLoader,
    channel_stats,
    load_cifar10,
    load_digits,
    normalize,
    random_crop_flip,
    stratified_split,
    verify_cifar10_archive,
)

RECORDS = 6  # per synthetic file; the real files have 10,000


def write_fake_cifar(root, records=RECORDS, seed=0):
    """Six files of ``records`` records each; returns the labels and images written, per file."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(seed)
    written = {}
    for name in CIFAR10_FILES:
        labels = rng.integers(0, 10, records, dtype=np.uint8)
        images = rng.integers(0, 256, (records, 3, 32, 32), dtype=np.uint8)
        with open(folder / name, "wb") as handle:
            for label, image in zip(labels, images, strict=True):
                handle.write(bytes([label]))
                for channel in range(3):  # red plane, green plane, blue plane, each row-major
                    handle.write(image[channel].tobytes(order="C"))
        written[name] = (labels, images)
    return folder, written


def test_cifar10_reader_recovers_written_records(tmp_path):
    folder, written = write_fake_cifar(tmp_path)
    data = load_cifar10(tmp_path, records_per_file=RECORDS)  # the parent folder works too
    train_labels = np.concatenate([written[name][0] for name in CIFAR10_FILES[:5]])
    train_images = np.concatenate([written[name][1] for name in CIFAR10_FILES[:5]])
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape == (5 * RECORDS, 3, 32, 32)
    assert data.train_labels.dtype == torch.int64
    assert np.array_equal(data.train_images.numpy(), train_images)
    assert np.array_equal(data.train_labels.numpy(), train_labels)
    assert np.array_equal(data.test_images.numpy(), written["test_batch.bin"][1])
    assert np.array_equal(data.test_labels.numpy(), written["test_batch.bin"][0])
    assert data.num_classes == 10 and data.classes[0] == "airplane"
    assert data.sha256 == {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in CIFAR10_FILES}
    # the manifest recorded on first use is accepted on the next load
    again = load_cifar10(folder, expected_sha256=data.sha256, records_per_file=RECORDS)
    assert torch.equal(again.test_images, data.test_images)


def test_cifar10_environment_variable_names_the_folder(tmp_path, monkeypatch):
    folder, _ = write_fake_cifar(tmp_path)
    monkeypatch.setenv(CIFAR10_ENV, str(folder))
    assert load_cifar10(records_per_file=RECORDS).test_images.shape == (RECORDS, 3, 32, 32)


def test_missing_cifar10_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(CIFAR10_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=CIFAR10_ENV) as info:
        load_cifar10()
    assert CIFAR10_URL in str(info.value) and "cifar-10-batches-bin" in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    folder, _ = write_fake_cifar(tmp_path)
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin' is missing"):
        load_cifar10(folder, records_per_file=RECORDS)


def test_wrong_size_and_bad_labels_are_rejected(tmp_path):
    folder, _ = write_fake_cifar(tmp_path)
    # the default expects the real 10,000 records: 30,730,000 bytes
    with pytest.raises(ValueError, match="has 18,438 bytes, expected 30,730,000"):
        load_cifar10(folder)
    with open(folder / "test_batch.bin", "r+b") as handle:
        handle.seek(2 * 3073)  # label byte of record 2
        handle.write(bytes([10]))
    with pytest.raises(ValueError, match="record 2 has label 10, allowed 0..9"):
        load_cifar10(folder, records_per_file=RECORDS)


def test_checksum_manifest_is_enforced(tmp_path):
    folder, _ = write_fake_cifar(tmp_path)
    manifest = load_cifar10(folder, records_per_file=RECORDS).sha256
    with pytest.raises(ValueError, match="must name all of"):
        load_cifar10(folder, expected_sha256={"test_batch.bin": manifest["test_batch.bin"]}, records_per_file=RECORDS)
    with pytest.raises(ValueError, match="data_batch_1.bin' has SHA-256"):
        load_cifar10(folder, expected_sha256={**manifest, "data_batch_1.bin": "0" * 64}, records_per_file=RECORDS)


def test_archive_md5_check(tmp_path):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(b"not the archive")
    with pytest.raises(ValueError, match=f"expected {CIFAR10_ARCHIVE_MD5}"):
        verify_cifar10_archive(archive)


def test_digits_are_scaled_and_split_by_class():
    data = load_digits(seed=0)
    assert data.train_images.shape[1:] == (1, 8, 8) and data.train_images.dtype == torch.float32
    assert len(data.train_labels) + len(data.test_labels) == 1797
    everything = torch.cat([data.train_images, data.test_images])
    assert everything.min() == 0.0 and everything.max() == 1.0  # 4-bit counts 0..16 divided by 16
    from sklearn.datasets import load_digits as sklearn_digits

    raw = sklearn_digits()
    train, test = stratified_split(torch.as_tensor(raw.target), 0.25, seed=0)
    assert np.array_equal(data.test_images[:, 0].numpy(), (raw.images[test.numpy()] / 16).astype(np.float32))
    assert torch.equal(load_digits(seed=0).train_labels, data.train_labels)  # repeatable


def test_stratified_split_keeps_class_shares():
    labels = torch.repeat_interleave(torch.arange(4), torch.tensor([10, 21, 7, 1]))
    train, test = stratified_split(labels, 0.3, seed=5)
    assert torch.equal(torch.sort(torch.cat([train, test])).values, torch.arange(len(labels)))  # a partition
    assert torch.bincount(labels[test], minlength=4).tolist() == [3, 6, 2, 0]  # round(0.3 n_c)
    again, other = stratified_split(labels, 0.3, seed=5)[1], stratified_split(labels, 0.3, seed=6)[1]
    assert torch.equal(again, test) and not torch.equal(other, test)
    with pytest.raises(ValueError, match="test_fraction must be in \\(0, 1\\), got 1.0"):
        stratified_split(labels, 1.0)


def test_crops_are_windows_of_the_padded_image():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (16, 3, 8, 8), generator=generator, dtype=torch.uint8)  # no zeros inside
    out, offsets, flipped = random_crop_flip(images, 2, torch.Generator().manual_seed(1), return_params=True)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    padded = nnf.pad(images, (2, 2, 2, 2))  # zeros, the reference for padding_mode="constant"
    for n in range(16):
        # brute force: every window and orientation that reproduces out[n]
        matches = [(r, c, f) for r in range(5) for c in range(5) for f in (False, True)
                   if torch.equal(out[n], (lambda w, f=f: w.flip(-1) if f else w)(padded[n, :, r:r + 8, c:c + 8]))]
        assert (offsets[n, 0].item(), offsets[n, 1].item(), bool(flipped[n])) in matches
        assert len(matches) >= 1


def test_reflect_padding_matches_torch_pad():
    images = torch.randn(5, 2, 6, 7, generator=torch.Generator().manual_seed(2))
    out, offsets, flipped = random_crop_flip(images, 3, torch.Generator().manual_seed(3), padding_mode="reflect",
                                             return_params=True)
    padded = nnf.pad(images, (3, 3, 3, 3), mode="reflect")
    for n in range(5):
        r, c = offsets[n].tolist()
        window = padded[n, :, r:r + 6, c:c + 7]
        assert torch.equal(out[n], window.flip(-1) if flipped[n] else window)


def test_flip_rate_and_offsets_are_uniform():
    # padding 0: the output is the image or its mirror; 20,000 images, so the flip share is
    # 0.5 ± 0.0035 (1 s.d.) and the test allows 5 s.d.
    images = torch.arange(4.0).view(1, 1, 1, 4).expand(20_000, 1, 1, 4)
    out = random_crop_flip(images, 0, torch.Generator().manual_seed(4))
    mirrored = (out[:, 0, 0, 0] == 3).float()
    assert torch.equal(out[mirrored.bool()], images[:1].flip(-1).expand_as(out)[mirrored.bool()])
    assert abs(mirrored.mean().item() - 0.5) < 5 * 0.0035
    _, offsets, _ = random_crop_flip(torch.zeros(20_000, 1, 2, 2), 4, torch.Generator().manual_seed(5),
                                     return_params=True)
    counts = torch.bincount(offsets[:, 0] * 9 + offsets[:, 1], minlength=81).double()
    # 81 cells of expected 247: each within 5 s.d. (√247 ≈ 16) of it
    assert ((counts - 20_000 / 81).abs() < 5 * 16).all()
    assert torch.equal(random_crop_flip(images[:100], 0, flip=False), images[:100])  # flip=False: never mirrored


def test_channel_stats_and_normalize_match_numpy():
    images = torch.randint(0, 256, (10, 3, 5, 5), generator=torch.Generator().manual_seed(6), dtype=torch.uint8)
    mean, std = channel_stats(images, chunk=3)  # chunks of 3 images: the accumulation is tested too
    scaled = images.numpy() / 255.0
    np.testing.assert_allclose(mean.numpy(), scaled.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std.numpy(), scaled.std(axis=(0, 2, 3)), rtol=1e-10)  # E[x²] − E[x]², float64
    z = normalize(images, mean, std)
    assert z.dtype == torch.float32
    np.testing.assert_allclose(z.double().mean(dim=(0, 2, 3)).numpy(), 0.0, atol=1e-6)  # float32 rounding
    np.testing.assert_allclose(z.double().std(dim=(0, 2, 3), correction=0).numpy(), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="mean and std must have 3 values"):
        normalize(images, [0.5], [0.2])


def test_loader_covers_every_row_once_per_epoch():
    x = torch.arange(10).view(10, 1).float()
    y = torch.arange(10)
    loader = InMemoryLoader(x, y, batch_size=4, generator=torch.Generator().manual_seed(0))
    assert len(loader) == 3
    first = [batch for batch in loader]
    assert [len(b[1]) for b in first] == [4, 4, 2]
    order = torch.cat([b[1] for b in first])
    assert torch.equal(torch.sort(order).values, y) and not torch.equal(order, y)
    assert all(torch.equal(bx[:, 0].long(), by) for bx, by in first)  # rows stay aligned across tensors
    second = torch.cat([b[1] for b in loader])
    assert not torch.equal(second, order)  # a fresh permutation each pass
    repeat = InMemoryLoader(x, y, batch_size=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([b[1] for b in repeat]), order)  # same seed, same epochs
    dropped = InMemoryLoader(x, y, batch_size=4, drop_last=True, shuffle=False)
    assert len(dropped) == 2 and torch.equal(torch.cat([b[1] for b in dropped]), torch.arange(8))
    with pytest.raises(ValueError, match="share their first dimension"):
        InMemoryLoader(x, y[:5], batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be an integer ≥ 1, got 0"):
        InMemoryLoader(x, batch_size=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_augmentation_and_batches_stay_on_the_gpu():
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, device="cuda")
    generator = torch.Generator(device="cuda").manual_seed(0)
    out, offsets, _ = random_crop_flip(images, 4, generator, return_params=True)
    assert out.device.type == "cuda" and offsets.device.type == "cuda"
    padded = nnf.pad(images, (4, 4, 4, 4))
    for n in range(4):
        r, c = offsets[n].tolist()
        window = padded[n, :, r:r + 32, c:c + 32]
        assert torch.equal(out[n], window) or torch.equal(out[n], window.flip(-1))
    batches = list(InMemoryLoader(images, torch.arange(64, device="cuda"), batch_size=16, generator=generator))
    assert all(b.device.type == "cuda" for batch in batches for b in batch)
