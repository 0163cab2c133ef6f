"""The ops web app, served by the ledger: server-rendered pages (Jinja2, htmx vendored in
`static/`), behind a session login, for every tenant's state, problems and actions."""
