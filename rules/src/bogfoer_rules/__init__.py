"""The booking rules, pure: zones, accounts, VAT, totals, documents and `policy.decide`.

No I/O here. The mapper service runs these rules on the live stream; the reconciler runs the
same rules over a replay to compute what Dinero should hold.
"""
