"""`python -m bogfoer_ingest`: run ingest until SIGTERM."""

from bogfoer_ingest.app import GC_THRESHOLDS, create_app
from bogfoer_ingest.settings import IngestSettings
from bogfoer_kit.serve import serve

settings = IngestSettings()  # filled from the environment
serve(create_app(settings), settings, GC_THRESHOLDS)
