"""Time decay in log space, with eras, in exact fixed-point integers.

A signal with half-life h keeps, per era, the accumulator

    A_era = Σ round(p_i · 2^((t_i − T0_era)/h) · SCALE)

over the events i of that era, where `T0_era = era · E` and `era = floor(t_i / E)`.
Its value at time t is Σ_era A_era · 2^(−(t − T0_era)/h) / SCALE, which is
exactly Σ p_i · 2^(−(t − t_i)/h): the decayed sum, with no read needed to add
an event (one atomic ADD of an integer) and no rewrite as time passes.

Choices and the bounds they guarantee (docs/decay.md):
- E = ERA_HALF_LIVES · h, per signal, so the exponent (t_i − T0_era)/h lies in
  [0, 32) whatever the half-life: the factor is below 2^32 ≈ 4.3e9.
- Accumulators are integers in units of 1e-12 points (SCALE). Integer addition
  is associative, so applying events in any order, batched any way, gives the
  identical accumulator; and DynamoDB's ADD on integers of up to 38 digits is
  exact. One event adds at most |p| · 2^32 · 1e12 ≈ |p| · 4.3e21 units, so an
  accumulator stays under DynamoDB's 1e38 for Σ|p| ≤ 2.3e16 points per
  signal per era (an era of a 7-day half-life is 224 days).
- Rounding costs at most 0.5e-12 points per event at its own era base, less
  after decay: far below the 0.01 points the engine reports.
- An era whose value has decayed below half a unit is dropped by `compact`
  (after 2 eras, a contribution has decayed by at least 2^−32).
- Evaluating at a `now` before an era starts counts that era as 0 (it has not
  happened yet). Events later than `now` inside the current era would count
  more than their points, so ingest clamps `occurred_at` to the receive time.
"""

from __future__ import annotations

SCALE = 10**12
ERA_HALF_LIVES = 32
_MAX_EXPONENT = 1000.0  # 2^1000 still fits a float; evaluating long before an event would overflow


class Decay:
    """The decay of one signal. `half_life_s=None` means the signal never decays."""

    __slots__ = ("era_s", "half_life_s", "inv_h")

    def __init__(self, half_life_s: float | None):
        self.half_life_s = half_life_s
        self.era_s = None if half_life_s is None else ERA_HALF_LIVES * half_life_s
        self.inv_h = None if half_life_s is None else 1.0 / half_life_s

    def increment(self, t: float, points: float) -> tuple[int, int]:
        """(era, integer units) to ADD for `points` earned at epoch second `t`."""
        era_s, inv_h = self.era_s, self.inv_h
        if era_s is None or inv_h is None:  # (None together)
            return 0, round(points * SCALE)
        era = int(t // era_s)
        return era, round(points * 2.0 ** ((t - era * era_s) * inv_h) * SCALE)

    def value(self, era: int, units: int, now: float) -> float:
        """Points an era's accumulator is worth at epoch second `now`."""
        era_s, inv_h = self.era_s, self.inv_h
        if era_s is None or inv_h is None:
            return units / SCALE
        exponent = (era * era_s - now) * inv_h
        if exponent > 0:
            return 0.0  # the era starts after `now`: none of it has happened yet
        return units * 2.0 ** exponent / SCALE

    def factor(self, age_s: float) -> float:
        """2^(−age/h): the weight left of one point after `age_s` seconds."""
        if self.inv_h is None:
            return 1.0
        return 2.0 ** min(-age_s * self.inv_h, _MAX_EXPONENT)
