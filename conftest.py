"""Fixtures shared by every test folder in the repository."""

pytest_plugins = [
    "bogfoer_devstack.pytest_plugin",
    "bogfoer_devstack.stripe_fixtures",
    "dinero_sandbox.pytest_plugin",
]
