"""leadscore's scoring engine: pure Python, no I/O, no AWS.

    from scoring_core import Engine, LeadState, load_model
    engine = Engine(load_model())            # the default model
    state = LeadState()
    engine.apply(state, event)               # any order, any batching
    score, transition = engine.advance(state, now)
"""

from .engine import (
    Activity,
    Effects,
    Engine,
    Fact,
    LeadState,
    Reason,
    Score,
    Transition,
    compact,
    epoch,
    merge,
    recent_activity,
    transition_id,
)
from .events import Consent, Event, EventContext, normalize_email
from .loader import ModelError, ModelFileError, load_model, parse_model
from .model import ScoringModel
from .stages import STAGES, Outcome, Stage, apply_feedback

__all__ = [
    "STAGES",
    "Activity",
    "Consent",
    "Effects",
    "Engine",
    "Event",
    "EventContext",
    "Fact",
    "LeadState",
    "ModelError",
    "ModelFileError",
    "Outcome",
    "Reason",
    "Score",
    "ScoringModel",
    "Stage",
    "Transition",
    "apply_feedback",
    "compact",
    "epoch",
    "load_model",
    "merge",
    "normalize_email",
    "parse_model",
    "recent_activity",
    "transition_id",
]
