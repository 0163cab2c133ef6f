"""poster: talks to Dinero exactly once per posting, within Dinero's rate limit."""
