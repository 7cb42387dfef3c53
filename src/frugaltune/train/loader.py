"""Which examples each micro-batch holds: a pure function of (seed, epoch, position), so a resumed run replays
exactly the order an uninterrupted run would have seen.

The data stream is an endless sequence of micro-batches across epochs, indexed by `g` (micro-batches consumed);
epoch e is a permutation of the examples drawn from numpy's PCG64 seeded with (seed, e). A checkpoint stores `g`
(with epoch and batch index for people to read); nothing else is needed to continue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frugaltune.estimate import steps


@dataclass
class BatchPlan:
    """Deterministic micro-batch order over `n_items` examples, sharded over `world_size` ranks."""

    n_items: int
    micro_batch: int
    seed: int
    world_size: int = 1
    rank: int = 0
    _orders: dict[int, list[int]] = field(default_factory=dict, repr=False)

    @property
    def batches_per_epoch(self) -> int:
        return steps.batches_per_epoch(self.n_items, self.micro_batch, self.world_size)

    def order(self, epoch: int) -> list[int]:
        """The permutation of example indices for `epoch`."""
        if epoch not in self._orders:
            import numpy as np

            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n_items).tolist()}
        return self._orders[epoch]

    def position(self, g: int) -> tuple[int, int]:
        """(epoch, batch index within the epoch) of micro-batch `g`."""
        return divmod(g, self.batches_per_epoch)

    def indices(self, g: int) -> list[int]:
        """Example indices of this rank's micro-batch number `g`."""
        epoch, b = self.position(g)
        order = self.order(epoch)
        span = self.micro_batch * self.world_size
        chunk = order[b * span:(b + 1) * span]
        if self.world_size > 1 and len(chunk) < span:  # every rank needs a batch: wrap around (as DistributedSampler)
            chunk = chunk + order[: span - len(chunk)]
        return chunk[self.rank * self.micro_batch:(self.rank + 1) * self.micro_batch]


def total_steps(plan: BatchPlan, grad_accum: int, epochs: float | None, max_steps: int | None) -> int:
    """Optimizer steps of the run: `max_steps` when set, else ceil(epochs x micro-batches per epoch / grad_accum)."""
    if max_steps is not None:
        return max_steps
    return steps.optimizer_steps(plan.n_items, plan.micro_batch, grad_accum, plan.world_size, epochs or 1.0)
