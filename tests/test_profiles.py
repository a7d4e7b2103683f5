"""Profiles are defined once; resolve validates names, coerces overrides and seeds."""

import pytest
import torch

from kdlib import claims, profiles


def test_every_profile_resolves_on_cpu():
    for name in profiles.PROFILES:
        cfg = profiles.resolve(name, device="cpu")
        assert cfg.name == name
        assert cfg.device == torch.device("cpu")


def test_paper_profile_keeps_the_papers_solver_settings():
    assert profiles.PROFILES["paper"].gd_iterations == 10_000


def test_overrides_are_coerced_and_none_means_default():
    cfg = profiles.resolve("smoke", device="cpu", fig1_points="11", gd_iterations=None)
    assert cfg.fig1_points == 11
    assert cfg.gd_iterations == profiles.PROFILES["smoke"].gd_iterations


def test_unknown_profile_and_setting_list_what_is_allowed():
    with pytest.raises(ValueError, match="smoke, quick, paper"):
        profiles.resolve("fast")
    with pytest.raises(ValueError, match="fig1_points"):
        profiles.resolve("smoke", widht=3)
    with pytest.raises(AttributeError, match="settings"):
        profiles.resolve("smoke", device="cpu").no_such_setting  # noqa: B018


def test_device_resolution():
    assert profiles.resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        profiles.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            profiles.resolve_device("cuda")


def test_seed_makes_runs_repeatable():
    first = profiles.resolve("smoke", device="cpu", seed=7)
    a = torch.randn(3)
    b = torch.randn(3, generator=first.generator())
    profiles.resolve("smoke", device="cpu", seed=7)
    assert torch.equal(a, torch.randn(3))
    assert torch.equal(b, torch.randn(3, generator=first.generator()))


def test_resolve_tells_the_claims_ledger_the_profile():
    profiles.resolve("smoke", device="cpu")
    assert claims.check("t.profile", "test", "x", measured=1, relation="<=", expected=2).profile == "smoke"
