"""`make chaos`: randomized, seeded runs of the whole pipeline under faults, each checked
against a fault-free run of the same load.

A run starts Kafka, PostgreSQL, the Dinero sandbox, the Stripe double and the four services
as processes; books a seeded day of sales for a few shops once without faults; then books
the same days again for twin shops while it SIGKILLs services (restarting only the one it
killed), restarts the broker and PostgreSQL under the running services, and lets the sandbox
answer 5xx, commit then drop the connection, hang and lag. Then an independent check reads
every organisation's documents through Dinero's API and counts them per ExternalReference
(0 duplicates, 0 missing), and compares each trial balance with the fault-free twin's.

- `plan.py`: what a run does, drawn from its seed alone (pure);
- `check.py`: the independent check, reading Dinero, and the comparison (pure);
- `report.py`: the tables (pure);
- `run.py`: one run against real processes; `cli.py`: `python -m bogfoer_devstack.chaos`.
"""
