"""The portal: where a shop connects itself to Bogfør, in web pages for its owner and an API
for platforms that onboard their shops programmatically. It keeps only onboardings (their
progress, one-time links, sessions, Visma Connect authorisations in flight) and carries out
every step through the poster's and ingest's admin APIs with its own operator tokens."""
