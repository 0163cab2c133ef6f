"""The shop owner's onboarding pages (Jinja2 templates on the kit's shared layout and look,
htmx for the live warnings and the backfill's progress)."""
