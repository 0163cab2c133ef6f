"""Free loopback ports (so two runs on one machine never collide) and stopping the processes
listening on them."""

import random
import signal
import socket
import subprocess
import time

# Ports are picked below the kernel's ephemeral range (where it takes the local port of every
# outgoing connection): a port picked from inside it (`bind(0)` picks there) was free when
# picked, but a service binds it seconds later, after the machine has opened many
# connections — and one of them, a client's own source port, took it once ("address already
# in use" at the ledger's start, after its pool's connections were opened first).
_SPAN = 12_000  # how far below the ephemeral range ports are picked
_TRIES = 200


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux's default if the
    system does not say)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(part) for part in f.read().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


# Ports this process handed out: a port picked is often bound only after the next is
# picked, so a random pick must not repeat one (bind(0) did not either).
_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on now, outside the ephemeral range (see above), and
    not handed out by this process before."""
    low, _high = ephemeral_range()
    first = max(1024, low - _SPAN)
    for _ in range(_TRIES):
        port = random.randrange(first, low)
        if port in _GIVEN:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {first}-{low - 1} after {_TRIES} tries")


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> int | None:
    """SIGTERM, wait for the graceful drain, SIGKILL if it does not come; the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode
