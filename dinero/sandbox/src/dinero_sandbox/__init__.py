"""A local emulator of the Dinero API subset Bogfør uses, with faults and trial balances."""
