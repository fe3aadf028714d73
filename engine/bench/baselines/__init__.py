"""The yardsticks `checkout bench` measures checkout-ops against, laid out as samples-python lays a
feature out (workflows, activities, worker, and a responder standing in for the services):

- `minimal`: a two-step saga (reserve, charge; restock and refund registered as compensations)
  written as the samples write it: activities are methods of a class given one shared NATS
  connection, one request each, default retry policy, default sandboxed runner.
- `naive`: the same saga as the original Go program did it: every activity opens a new NATS
  connection for its one request and closes it.
- `empty`: a workflow that returns at once, the server's ceiling.

`python -m engine.bench.baselines worker PROGRAM ...` and `... responder ...` run them.
They are a yardstick, not product code: small on purpose.
"""
