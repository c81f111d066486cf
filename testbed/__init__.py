"""What the benchmarks in bench/ and the tests share, and the Lambda artifacts never ship.

- `leads_stream`: a realistic event stream around the X Education leads (../shared/data/)
- `engine_workload`: synthetic events and a generated 150+ rule model for the engine alone
- `request_units`: DynamoDB item sizes and a meter of API calls and request units, hooked into botocore
- `fast_moto`: speed-ups of moto's DynamoDB emulation that change no result
- `naive_worker`: the obvious worker (read, apply, write back, publish) the scoring worker is compared with
- `stream_publisher`: the stream publisher run on the leads table's stream as its event source mapping would
- `faults`: the pipeline end to end on moto with throttled writes and refused PutEvents entries
- `fuzzing`: mutated requests to every ingest route's real handler, each answer checked
- `signing`: webhook signatures made the way each sender makes them (independent of our verifiers)
- `recorder`: a real HTTP server on 127.0.0.1 recording every request (Slack, a CRM, any receiver)

A top-level package installed by `pip install -e .`, outside src/ (which is a Lambda layer's
ContentUri), so nothing here reaches a deployed function.
"""
