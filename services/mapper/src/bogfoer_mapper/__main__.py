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
# walks it at all. Since polls take up to 10,000 records (`bogfoer_kit.consumer.POLL_RECORDS`),
# a poll keeps more than that alive at its peak — its events, their states and commands — so
# a pass came mid-poll about once every 17,000 records of the stage benchmark, walking every
# object the poll still held (~40 ms, ~2.5 µs a record; 4-8 µs in-process with polls of
# 3,650). At 1,000,000 a pass comes only once that many objects made since the last are still
# alive: reference counting frees a poll's objects and evicted states (a mapper poll makes
# no cyclic garbage: a full collection after 20,000 records of the bench stream found none),
# so it does not come while the state cache and the polls stay their size.
GC_THRESHOLDS = (1_000_000, 20, 100)

settings = MapperSettings()  # filled from the environment
serve(create_app(settings), settings, GC_THRESHOLDS)  # once started (`bogfoer_kit.serve`)
