"""`python -m bogfoer_ledger`: run the ledger until SIGTERM."""

from bogfoer_kit.serve import serve
from bogfoer_ledger.app import GC_THRESHOLDS, create_app
from bogfoer_ledger.settings import LedgerSettings

settings = LedgerSettings()  # filled from the environment
serve(create_app(settings), settings, GC_THRESHOLDS)
