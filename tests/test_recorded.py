"""The GPU measurements the book quotes (benchmarks/recorded/gpu.json) are the logs' own numbers, and a
chapter that quotes them is re-executed when they change."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kdlib.book import core, notebooks, plotting

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "recorded"


def _numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield value


def _in_log(number: float, log: str) -> bool:
    """The log prints the number, as written in the JSON or as a percentage (0.0010 → 0.10%), with or
    without thousands separators."""
    plain = log.replace(",", "")
    candidates = {repr(number), f"{number:g}", f"{number:.2f}", f"{number:.1f}", f"{100 * number:.2f}%"}
    if float(number).is_integer():
        candidates.add(str(int(number)))
    return any(re.search(rf"(?<![\d.]){re.escape(text)}(?![\d])", plain) for text in candidates)


def test_every_recorded_gpu_number_appears_in_its_log():
    recorded = json.loads((RESULTS / "gpu.json").read_text())
    for name, section in recorded.items():
        if not isinstance(section, dict):
            continue
        log = (RESULTS / section["log"]).read_text()
        assert recorded["device"] in log or recorded["device"] in (RESULTS / "gpu.txt").read_text()
        for number in _numbers({k: v for k, v in section.items() if k != "log"}):
            assert _in_log(number, log), f"{name}: {number} is not in {section['log']}"


def test_the_book_reads_the_recording():
    recorded = core.gpu_measurements(ROOT)
    assert recorded is not None and recorded["device"].startswith("NVIDIA")
    assert "s (`benchmarks/bench_risk.py`" in core.gpu_closed_form_text(ROOT)


def test_without_a_recording_the_text_says_so(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    assert core.gpu_measurements(tmp_path) is None
    assert "no GPU measurement is recorded" in core.gpu_closed_form_text(tmp_path)


def test_a_chapter_quoting_the_recording_is_keyed_on_it(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "benchmarks" / "recorded").mkdir(parents=True)
    quoting = tmp_path / "notebooks" / "01-a.py"
    quoting.write_text("from kdlib.book.core import gpu_closed_form_text\nprint(gpu_closed_form_text())\n")
    silent = tmp_path / "notebooks" / "02-b.py"
    silent.write_text("print(1)\n")
    recording = tmp_path / "benchmarks" / "recorded" / "gpu.json"
    recording.write_text('{"device": "A"}')
    before = {path: notebooks.cache_key(path, {}) for path in (quoting, silent)}
    recording.write_text('{"device": "B"}')
    assert notebooks.cache_key(quoting, {}) != before[quoting]
    assert notebooks.cache_key(silent, {}) == before[silent]


def test_glued_text_refuses_dollar_math():
    with pytest.raises(ValueError, match="publish_text\\('x'\\).*Unicode"):
        plotting.publish_text("x", "the ratio $\\rho = 1$")
