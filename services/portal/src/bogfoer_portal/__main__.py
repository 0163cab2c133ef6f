"""`python -m bogfoer_portal`: run the portal until SIGTERM."""

from bogfoer_kit.serve import serve
from bogfoer_portal.app import create_app
from bogfoer_portal.settings import PortalSettings

settings = PortalSettings()  # filled from the environment
serve(create_app(settings), settings)
