"""Helpers the tests share; conftest.py files hold only fixtures.

- `events`: canonical events built the way ingest builds them, at a fixed `NOW`
- `template`: template.yaml loaded once, its HTTP routes, the resources moto created from it
- `handlers`: the real handlers invoked as Lambda invokes them (API Gateway events, EventBridge events)
- `queues`: what a moto queue holds (the events queue, the alerts dead-letter queue, what the bus delivered)
- `worker`: events delivered to the scoring worker in SQS batches
- `alerts`: the Slack bodies and SES emails the notifiers sent
- `local_stack`, `polling`, `chromium`: the `leadscore dev` stack, bounded waits, headless Chromium

What benchmarks use too (the independent webhook signer, the HTTP recorder, the workloads) is
in the top-level `testbed` package.
"""
