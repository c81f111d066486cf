"""leadscore's scoring engine: pure Python, no I/O, no AWS.

    from scoring_core import Engine, LeadState, load_model
    engine = Engine(load_model())            # the default model
    state = LeadState()
    engine.apply(state, event)               # any order, any batching
    score, transition = engine.advance(state, now)
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Exports load on first use (PEP 562): an ingest Lambda that needs only
# `scoring_core.events` does not pay for the engine, the YAML loader and the
# model schema at cold start.
_EXPORTS = {
    **dict.fromkeys(("Engine", "compact", "epoch"), "engine"),
    **dict.fromkeys(("Activity", "Effects", "Fact", "LeadState", "merge", "recent_activity"), "state"),
    **dict.fromkeys(("Reason", "Score", "Transition", "transition_id"), "score"),
    **dict.fromkeys(("Consent", "Event", "EventContext", "normalize_email"), "events"),
    **dict.fromkeys(("ModelError", "ModelFileError", "load_model", "parse_model"), "loader"),
    "ScoringModel": "model",
    "Interest": "interests",
    **dict.fromkeys(("QUALIFIED", "STAGES", "Outcome", "Stage", "apply_feedback"), "stages"),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scoring_core' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine, compact, epoch
    from .events import Consent, Event, EventContext, normalize_email
    from .interests import Interest
    from .loader import ModelError, ModelFileError, load_model, parse_model
    from .model import ScoringModel
    from .score import Reason, Score, Transition, transition_id
    from .stages import QUALIFIED, STAGES, Outcome, Stage, apply_feedback
    from .state import Activity, Effects, Fact, LeadState, merge, recent_activity

__all__ = [
    "QUALIFIED",
    "STAGES",
    "Activity",
    "Consent",
    "Effects",
    "Engine",
    "Event",
    "EventContext",
    "Fact",
    "Interest",
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
