"""What the services' web pages share: one look (`templates/layout.html`, `static/`), the
way a page reads a form and where it may send a browser next (`pages.py`), and server-side
sessions with a CSRF token (`sessions.py`). The ledger's ops pages and the portal's
onboarding pages are built on it."""
