"""What both deployables share at run time and neither owns: the `pose-studio` command root (cli), the worker
launcher (worker), structured logging with redaction (logging, log_redaction), Prometheus metrics (metrics) and the
worker's signal hooks (worker_observability).

Neutral ground: nothing here imports flask, sqlalchemy or `plugin` when it is imported, so a GPU worker started by
`pose-studio worker --queues gpu` never loads the web app (tests/architecture/test_boundaries.py); `plugin` and
`gpu_worker` may import from here, never the other way round (except the lazily loaded commands of cli.COMMANDS
and the shopify worker's app).
"""
