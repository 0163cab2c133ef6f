"""ledger: the posting state in PostgreSQL, for ops and for reconciliation."""
