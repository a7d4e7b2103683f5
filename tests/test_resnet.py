"""kdlib.resnet: shapes, the published CIFAR parameter counts, FLOPs against torch's counter, determinism.

Independent references: the parameter counts 11,173,962 (ResNet-18) and 23,520,842 (ResNet-50) of
the widely used CIFAR implementations (github.com/kuangliu/pytorch-cifar, 10 classes), and
``torch.utils.flop_counter.FlopCounterMode``, which counts the FLOPs of the convolution and matmul
kernels actually dispatched.
"""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kdlib.resnet import BasicBlock, Bottleneck, ResNet, forward_flops, resnet


@pytest.fixture(autouse=True)
def one_thread():
    """The few real forward passes here are tiny; on a small machine shared with other jobs, one thread
    avoids the OpenMP contention that made them take seconds instead of milliseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def on_meta(name, **kwargs):
    """The network with shapes only (no memory, no initialisation work): enough to count parameters and FLOPs."""
    with torch.device("meta"):
        return resnet(name, **kwargs)


@pytest.mark.parametrize(("name", "count"), [("resnet18", 11_173_962), ("resnet50", 23_520_842),
                                             ("resnet34", 21_282_122)])
def test_parameter_counts_match_the_standard_cifar_networks(name, count):
    assert parameter_count(on_meta(name)) == count


def test_width_scales_the_network():
    narrow = on_meta("resnet18", width=16)
    # every conv scales by (16/64)² except the stem's input side (3 channels) and the 10-way classifier
    ratio = parameter_count(narrow) / parameter_count(on_meta("resnet18"))
    assert 0.06 < ratio < 0.065
    assert narrow.fc.in_features == 128 and on_meta("resnet50", width=16).fc.in_features == 512


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
@pytest.mark.parametrize(("size", "in_channels"), [(32, 3), (8, 1)])
def test_output_shapes(name, size, in_channels):
    # shapes on the meta device are those of a real run (the same shape functions); one real run below
    model = on_meta(name, width=8, num_classes=7, in_channels=in_channels)
    x = torch.randn(3, in_channels, size, size, device="meta")
    assert model(x).shape == (3, 7)
    expansion = 4 if name == "resnet50" else 1
    assert model.features(x).shape == (3, 8 * 8 * expansion)


def test_real_forward_on_small_digit_sized_inputs():
    model = resnet("resnet50", width=4, num_classes=10, in_channels=1)
    logits = model(torch.randn(2, 1, 8, 8))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


@pytest.mark.parametrize(("name", "width", "size"), [("resnet18", 64, 32), ("resnet18", 16, (9, 13)),
                                                     ("resnet50", 16, 32), ("resnet50", 8, 8)])
def test_forward_flops_match_torch_flop_counter(name, width, size):
    # on the meta device the kernels are dispatched (and counted) without computing anything
    model = on_meta(name, width=width).eval()
    height, width_px = (size, size) if isinstance(size, int) else size
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(2, 3, height, width_px, device="meta"))
    assert forward_flops(model, size) * 2 == counter.get_total_flops()  # both exact integers


def test_forward_flops_of_resnet18_is_the_known_value():
    # 0.556 G multiply-adds, the figure usually quoted for CIFAR ResNet-18
    assert forward_flops(on_meta("resnet18"), 32) == 1_110_845_440


def test_eval_mode_is_deterministic_and_batch_independent():
    model = resnet("resnet18", width=8, generator=torch.Generator().manual_seed(0))
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    model.train()
    model(x)  # move the running statistics away from their initial values
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
        part = model(x[:2])
    assert torch.equal(first, second)
    # batch norm uses running statistics in eval: an image's logits do not depend on its batch mates
    # (a different batch size may pick another conv algorithm: float32 rounding, ~1e-6 relative)
    torch.testing.assert_close(part, first[:2], rtol=1e-5, atol=1e-5)


def test_generator_makes_initialisation_repeatable():
    first = resnet("resnet18", width=8, generator=torch.Generator().manual_seed(3))
    second = resnet("resnet18", width=8, generator=torch.Generator().manual_seed(3))
    other = resnet("resnet18", width=8, generator=torch.Generator().manual_seed(4))
    pairs = list(zip(first.state_dict().values(), second.state_dict().values(), strict=True))
    assert all(torch.equal(a, b) for a, b in pairs)
    assert not torch.equal(first.fc.weight, other.fc.weight)


def test_zero_init_residual_makes_blocks_start_as_shortcuts():
    model = resnet("resnet50", width=8, zero_init_residual=True)
    assert all(block.bn3.weight.abs().sum() == 0 for stage in model.stages for block in stage)


def test_blocks_have_the_expected_structure():
    model = resnet("ResNet-50", width=8)
    assert isinstance(model.stages[0][0], Bottleneck) and isinstance(resnet("resnet_18").stages[0][0], BasicBlock)
    assert [len(stage) for stage in model.stages] == [3, 4, 6, 3]
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)  # CIFAR stem, no max-pool
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"name must be one of \['resnet18', 'resnet34', 'resnet50'\], got 'vgg'"):
        resnet("vgg")
    with pytest.raises(ValueError, match="width must be an integer ≥ 1, got 0"):
        resnet("resnet18", width=0)
    with pytest.raises(ValueError, match="layers must be four"):
        ResNet(BasicBlock, (2, 2))
    with pytest.raises(ValueError, match=r"images must have shape \(N, 3, H, W\)"):
        resnet("resnet18", width=4)(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="image_size"):
        forward_flops(resnet("resnet18", width=4), 0)
