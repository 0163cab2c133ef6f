"""`python -m bogfoer_mapper`: run the mapper until SIGTERM."""

from bogfoer_kit.serve import serve
from bogfoer_mapper.app import create_app
from bogfoer_mapper.settings import MapperSettings

# A poll makes millions of objects that live until it is committed (its events, their
# states, the commands): at the default threshold (a young-generation pass every 700
# allocations, ~1,000 passes a poll, each older pass walking everything the poll still
# holds) the collector took ~37 µs of the mapper's ~200 µs a record over the bench stream;
# at 20,000 ~6. Nearly all of it is freed by reference counting anyway; what the collector
# finds waits a little longer. At 100,000 (more than a tenant's poll keeps alive at once:
# the count is of objects made and not freed yet), most of a poll is freed before a pass
# walks it at all.
GC_THRESHOLDS = (100_000, 20, 100)

settings = MapperSettings()  # filled from the environment
serve(create_app(settings), settings, GC_THRESHOLDS)  # once started (`bogfoer_kit.serve`)
