"""`bogfoer`, the operator's command line. Its first subcommand is `reconcile`."""
