"""leadscore: the command line and the local stack around the scoring engine (`scoring_core`)."""

__version__ = "0.1.0"
