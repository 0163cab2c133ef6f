"""mapper: applies each tenant's rules to sales events and emits posting commands."""
