"""`python -m bogfoer_poster`: run the poster until SIGTERM."""

from bogfoer_kit.serve import serve
from bogfoer_poster.app import create_app
from bogfoer_poster.settings import PosterSettings

settings = PosterSettings()  # filled from the environment
serve(create_app(settings), settings)
