"""Ingest: turn what senders post (pixel hits, Segment-style SDK calls, signed
webhooks) into canonical `scoring_core.Event`s. Pure parsing and checking: no
AWS here (queueing is `leadscore.adapters.queue`), so every path is testable
without moto."""
