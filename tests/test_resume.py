"""A long sweep task resumes from its own checkpoints: killed mid-training on a process pool, the
rerun continues from the last checkpoint and ends bit-identical (CPU) to an uninterrupted run."""

import os
import signal
from pathlib import Path

import pytest
import torch

from kdlib.book import executor
from kdlib.book.results import ResultCache, task_key
from kdlib.book.sweeps import SweepError, checkpoint_folder, sweep
from kdlib.nets import NTKMLP
from kdlib.train import OnlineBatches, fit, latest_checkpoint

EPOCHS = 12
KILL_AT = 6


def train_teacher_task(seed: int, checkpoint_dir: Path, kill_marker: str = "") -> dict:
    """A small Eq. 1 network on online batches, checkpointed every epoch; dies by SIGKILL at epoch
    KILL_AT while ``kill_marker`` names a file that exists (the marker is removed as it dies)."""
    generator = torch.Generator().manual_seed(seed)
    model = NTKMLP(2, 2, 16, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def sample(size, gen):
        x = 5.0 * torch.randn(size, 2, generator=gen)
        return x, (x[:, 0] * x[:, 1] > 0).float()

    def die(state):
        if kill_marker and os.path.exists(kill_marker):
            os.remove(kill_marker)
            os.kill(os.getpid(), signal.SIGKILL)

    result = fit(model, lambda m, b: torch.nn.functional.binary_cross_entropy_with_logits(m(b[0]), b[1]), optimizer,
        OnlineBatches(sample, 64), epochs=EPOCHS, generator=generator, checkpoint_dir=checkpoint_dir,
        checkpoint_epochs=range(EPOCHS + 1), callbacks={KILL_AT: die})
    return {"weights": torch.nn.utils.parameters_to_vector(model.parameters()).detach(),
            "resumed_from": -1 if result.resumed_from is None else int(result.resumed_from)}


@pytest.mark.slow
def test_a_task_killed_on_a_process_pool_resumes_at_its_checkpoint_bit_identically(tmp_path):
    marker = tmp_path / "kill-once"
    marker.touch()
    cache = ResultCache(tmp_path / "cache" / "results")
    task = {"seed": 3, "kill_marker": str(marker)}
    with executor.open_executor(workers=2) as pool, pytest.raises(SweepError):
        sweep(train_teacher_task, [task], executor=pool, cache=cache, progress=False)
    assert not marker.exists(), "the task did not reach its kill point"
    folder = checkpoint_folder(cache, task_key(train_teacher_task, task))
    saved = torch.load(latest_checkpoint(folder), weights_only=True)
    assert saved["epoch"] == KILL_AT - 1  # the kill came in epoch KILL_AT's callbacks, before its checkpoint

    with executor.open_executor(workers=2) as pool:
        resumed = sweep(train_teacher_task, [task], executor=pool, cache=cache, progress=False)
    assert resumed.computed == 1 and resumed[0]["resumed_from"] == KILL_AT - 1
    straight = train_teacher_task(3, tmp_path / "straight")
    assert straight["resumed_from"] == -1
    assert torch.equal(resumed[0]["weights"], straight["weights"])
