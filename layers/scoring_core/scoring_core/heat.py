"""Heat: the one number leads are ordered by, hottest first (the leads table's ByStage index).

An event's engagement points, at the moment it happened, in log space against a
fixed epoch, so the running sum `heat = Σ p_i · 2^((t_i − T0)/h)` orders leads
exactly as their engagement decayed with a 30-day half-life would, at any time,
with no read and no rewrite: only ever an atomic ADD of each event's increment.
An increment doubles every half-life (about ×4,600 a year), so it stays inside a
DynamoDB number (< 1e126, about 2^418) for about 34 years after T0, and inside a
float for about 84.
"""

from __future__ import annotations

HEAT_T0 = 1767225600.0  # 2026-01-01T00:00:00Z: epoch of the heat accumulator
HEAT_HALF_LIFE_S = 30 * 86400.0


def heat_increment(points: float, t: float) -> float:
    """One event's contribution to `heat`: `points` at time `t` (epoch seconds), scaled so
    that sorting leads by the sum of their increments sorts them by decayed engagement."""
    return points * 2.0 ** ((t - HEAT_T0) / HEAT_HALF_LIFE_S)
