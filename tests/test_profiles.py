"""Chapter settings are defined once per profile; resolve validates names, types, ranges, and seeds."""

import ast
import dataclasses
import re
from pathlib import Path

import pytest
import torch

from kdlib.book import claims, profiles
from kdlib.book.chapters import CHAPTERS


def test_every_chapter_resolves_at_every_profile_on_cpu():
    for chapter in CHAPTERS:
        for name in profiles.PROFILES:
            cfg = profiles.resolve(chapter, name, device="cpu")
            assert cfg.name == name and cfg.chapter == chapter
            assert cfg.device == torch.device("cpu")


def test_each_chapter_has_one_frozen_dataclass_for_its_three_profiles():
    for chapter, per_profile in CHAPTERS.items():
        assert set(per_profile) == set(profiles.PROFILES), chapter
        kinds = {type(value) for value in per_profile.values()}
        assert len(kinds) == 1, chapter
        (kind,) = kinds
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen, chapter


def test_paper_profile_keeps_the_papers_solver_settings():
    assert profiles.chapter_settings("01-effective-student", "paper").gd_iterations == 10_000


def test_overrides_are_coerced_and_none_means_default():
    cfg = profiles.resolve("01-effective-student", "smoke", device="cpu", points="11", gd_iterations=None)
    assert cfg.points == 11
    assert profiles.resolve("01-effective-student", "smoke", device="cpu", gd_iterations="1e8").gd_iterations == 10**8
    assert cfg.gd_iterations == profiles.chapter_settings("01-effective-student", "smoke").gd_iterations
    assert profiles.resolve("s1-ntk-regime", "smoke", device="cpu", widths="64,128").widths == (64, 128)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("points", 3.7, "not allowed; allowed: int"),
    ("points", True, "not allowed; allowed: int"),
    ("points", 0, r"out of range; allowed: int in \[3, "),
    ("points", -5, "out of range"),
    ("points", 10**9, "out of range"),
    ("z_max", float("nan"), "not allowed; allowed: float"),
    ("gd_iterations", "many", "not allowed"),
    ("gd_iterations", "12.5", "not allowed"),
])
def test_bad_values_name_the_setting_and_what_is_allowed(name, value, message):
    with pytest.raises(ValueError, match=message) as error:
        profiles.resolve("01-effective-student", "smoke", device="cpu", **{name: value})
    assert name in str(error.value)


def test_tuples_are_checked_item_by_item():
    assert profiles.resolve("s1-ntk-regime", "smoke", device="cpu", widths=1024).widths == (1024,)
    with pytest.raises(ValueError, match="widths"):
        profiles.resolve("s1-ntk-regime", "smoke", device="cpu", widths=True)
    with pytest.raises(ValueError, match="out of range"):
        profiles.resolve("s1-ntk-regime", "smoke", device="cpu", widths=(64, 0))


def test_unknown_profile_and_setting_list_what_is_allowed():
    with pytest.raises(ValueError, match="smoke, quick, paper"):
        profiles.resolve("01-effective-student", "fast")
    with pytest.raises(ValueError, match="points"):
        profiles.resolve("01-effective-student", "smoke", widht=3)
    with pytest.raises(AttributeError, match="settings"):
        profiles.resolve("01-effective-student", "smoke", device="cpu").no_such_setting  # noqa: B018


def test_kdbook_list_describes_every_setting_at_every_profile():
    rows = profiles.describe("s1-ntk-regime")
    names = [name for name, _, _ in rows]
    assert names == [f.name for f in dataclasses.fields(CHAPTERS["s1-ntk-regime"]["quick"])]
    widths = dict((name, values) for name, _, values in rows)["widths"]
    assert widths["paper"][-1] == 16384 and set(widths) == set(profiles.PROFILES)


def test_device_resolution():
    assert profiles.resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        profiles.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            profiles.resolve_device("cuda")


def test_seed_makes_runs_repeatable():
    first = profiles.resolve(None, "smoke", device="cpu", seed=7)
    a = torch.randn(3)
    b = torch.randn(3, generator=first.generator())
    profiles.resolve(None, "smoke", device="cpu", seed=7)
    assert torch.equal(a, torch.randn(3))
    assert torch.equal(b, torch.randn(3, generator=first.generator()))
    with pytest.raises(ValueError, match="seed"):
        profiles.resolve(None, "smoke", device="cpu", seed=-1)


def test_resolve_tells_the_claims_ledger_the_profile():
    profiles.resolve(None, "smoke", device="cpu")
    assert claims.check("t.profile", "test", "x", measured=1, relation="<=", expected=2).profile == "smoke"


def test_every_chapters_example_override_is_a_valid_setting():
    """The parameters cell's comment shows an override; a reader who copies it must get a run, not an error."""
    for source in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py")):
        match = re.search(r"^overrides = \{\}  # chapter settings, e\.g\. (\{.*?\});", source.read_text(), re.M)
        assert match, f"{source.name}: the parameters cell shows no example override"
        example = ast.literal_eval(match.group(1))
        profiles.resolve(source.stem, "smoke", device="cpu", seed=0, **example)
