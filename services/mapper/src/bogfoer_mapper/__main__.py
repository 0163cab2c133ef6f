"""`python -m bogfoer_mapper`: run the mapper until SIGTERM."""

from bogfoer_kit.serve import serve
from bogfoer_mapper.app import create_app
from bogfoer_mapper.settings import MapperSettings

# A poll makes millions of objects that live until it is committed (its events, their
# states, the commands): at the default threshold (a young-generation pass every 700
# allocations, ~1,000 passes a poll, each older pass walking everything the poll still
# holds) the collector took ~37 µs of the mapper's ~200 µs a record over the bench stream;
# at 20,000 ~6. Nearly all of it is freed by reference counting anyway; what the collector
# finds waits a little longer. At 100,000 most of a tenant's poll of hundreds was freed
# before a pass walked it at all (the count is of objects made and not freed yet). Polls
# now take up to 10,000 records (`bogfoer_kit.consumer.POLL_RECORDS`) and keep more than
# 100,000 alive at their peak — the events, their states and commands — so a pass came
# mid-poll and walked all of it: ~40 ms each, 1.3-4 µs a record in the stage benchmark's
# windows, 12-20 µs in-process with polls of 10,000. At 1,000,000 a pass comes only once that
# many objects made since the last are still alive: the objects alive at a poll's end stay
# ~150,000 with the state cache full (its evicted states and a poll's objects are freed by
# reference counting), and a mapper's poll makes no cyclic garbage to wait for a pass (a
# full collection after 20,000 records of the bench stream found none).
GC_THRESHOLDS = (1_000_000, 20, 100)

settings = MapperSettings()  # filled from the environment
serve(create_app(settings), settings, GC_THRESHOLDS)  # once started (`bogfoer_kit.serve`)
