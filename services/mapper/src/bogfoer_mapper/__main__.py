"""`python -m bogfoer_mapper`: run the mapper until SIGTERM."""

from bogfoer_kit.serve import serve
from bogfoer_mapper.app import create_app
from bogfoer_mapper.settings import MapperSettings

settings = MapperSettings()  # filled from the environment
serve(create_app(settings), settings)
