"""The replayed events, spread over bucket files on local disk, one order per bucket.

A month of a busy tenant is millions of events; holding every order's state in memory at
once would grow with the stream. The replay writes each event's bytes to one of `buckets`
files, chosen by the id that all events of one order state share, and then replays one
bucket at a time: only one bucket's states are ever in memory. A bucket file larger than
`bucket_bytes` is first split again by order (with another hash) into parts no larger, so
the memory a replay needs is bounded by `bucket_bytes`, not by the length of the stream.
Orders are independent of each other (an event only ever changes its own order's state), so
the result is the same as replaying the whole stream at once.

Which id: the order id when the event names one, else the provider's payment id, else the
payout id. That is exactly what `bogfoer_rules.policy.state_key` keys a state by (order
events and payments naming their order → the order; fees and payments without an order →
the payment; payouts → the payout), so every event of a state lands in the same bucket.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

_HEADER = struct.Struct("<HidI")  # tenant length, settings index, arrival (epoch s), body length
_FLUSH_BYTES = 1 << 14
Record = tuple[str, int, dt.datetime, bytes]  # tenant, settings index, arrival, the event


# Only a sale's data carries these keys (the envelope does not, nor do nested objects), so
# finding them in the bytes is enough to route, without parsing the whole event twice.
_ROUTES = tuple(
    re.compile(rb'"' + name + rb'"\s*:\s*"((?:[^"\\]|\\.)*)"')
    for name in (b"order_id", b"payment_id", b"payout_id")
)


def route_of(body: bytes) -> str:
    """The id every event of one order state shares (see the module docstring)."""
    for pattern in _ROUTES:
        found = pattern.search(body)
        if found is not None:
            return found.group(1).decode(errors="replace")
    return ""


def bucket_of(tenant: str, route: str, buckets: int, level: int = 0) -> int:
    """The bucket of an order; `level` salts the hash when a bucket is split again."""
    key = f"{level}\x00{tenant}\x00{route}".encode()
    digest = hashlib.blake2b(key, digest_size=4).digest()
    return int.from_bytes(digest, "little") % buckets


def _records(path: Path) -> Iterator[tuple[bytes, Record]]:
    """(the record's bytes, the record) of a bucket file, streamed."""
    with path.open("rb") as source:
        while head := source.read(_HEADER.size):
            name_len, settings, at, body_len = _HEADER.unpack(head)
            name = source.read(name_len)
            body = source.read(body_len)
            arrival = dt.datetime.fromtimestamp(at, dt.UTC)
            yield head + name + body, (name.decode(), settings, arrival, body)


class Spool:
    """Bucket files in a temporary folder, removed on close."""

    def __init__(
        self, buckets: int = 1024, directory: Path | None = None, bucket_bytes: int = 1 << 18
    ) -> None:
        self.buckets = buckets
        self.bucket_bytes = bucket_bytes
        self._tmp = tempfile.TemporaryDirectory(prefix="bogfoer-replay-", dir=directory)
        self._dir = Path(self._tmp.name)
        self._buffers: list[bytearray] = [bytearray() for _ in range(buckets)]
        self.events = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._tmp.cleanup()

    def _path(self, bucket: int) -> Path:
        return self._dir / f"{bucket:04d}.bin"

    def _flush(self, bucket: int) -> None:
        buffer = self._buffers[bucket]
        if buffer:
            with self._path(bucket).open("ab") as out:
                out.write(buffer)
            buffer.clear()

    def add(self, tenant: str, settings: int, at: dt.datetime, body: bytes) -> None:
        """One event of `tenant` as it arrived, with the index of the settings then in force."""
        name = tenant.encode()
        bucket = bucket_of(tenant, route_of(body), self.buckets)
        buffer = self._buffers[bucket]
        buffer += _HEADER.pack(len(name), settings, at.timestamp(), len(body))
        buffer += name
        buffer += body
        self.events += 1
        if len(buffer) >= _FLUSH_BYTES:
            self._flush(bucket)

    def replay(self) -> Iterator[list[Record]]:
        """Each bucket's events in arrival order (a large bucket in parts, by order)."""
        for bucket in range(self.buckets):
            self._flush(bucket)
        for bucket in range(self.buckets):
            path = self._path(bucket)
            if path.exists():
                yield from self._replay_file(path, level=1)

    def _replay_file(self, path: Path, level: int) -> Iterator[list[Record]]:
        size = path.stat().st_size
        if size <= self.bucket_bytes or level > 4:  # one order alone may be larger
            records = [record for _, record in _records(path)]
            path.unlink()
            yield records
            return
        parts = -(-size // self.bucket_bytes)
        outputs: dict[int, bytearray] = {}

        def part_path(part: int) -> Path:
            return path.parent / f"{path.name}-{part}"

        for raw, (tenant, _, _, body) in _records(path):
            part = bucket_of(tenant, route_of(body), parts, level)
            outputs.setdefault(part, bytearray()).extend(raw)
            if len(outputs[part]) >= _FLUSH_BYTES:
                with part_path(part).open("ab") as out:
                    out.write(outputs[part])
                outputs[part].clear()
        path.unlink()
        for part, rest in outputs.items():
            with part_path(part).open("ab") as out:
                out.write(rest)
        for part in sorted(outputs):
            yield from self._replay_file(part_path(part), level + 1)
