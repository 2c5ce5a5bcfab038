"""What answers at a ``--dask`` address, asked before a Dask client is made there.

``distributed.Client(address, timeout=...)`` gives up in time when nothing listens, but not when something
else does: a web server (a Dask dashboard, port 8787, is the usual slip for the scheduler's 8786) accepts the
connection and then waits for a request that never comes, and so does the client, for ever. A service that
answers with other bytes makes it read a made-up frame length (``Unable to allocate 3 EiB``). So the address
is asked first, over one Dask connection with a deadline on the whole exchange, for its ``identity``, the
message every Dask server answers with its type:

- nothing accepts the connection in time: no scheduler answered there;
- a connection, then no Dask reply in time, or not a Dask reply: something else listens there;
- a reply whose type is not ``Scheduler`` (a worker or nanny): the scheduler's address is the one to give.

Each is a :class:`~grader.errors.UsageError` (exit 2) that names the address and says what to do.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from distributed.comm import connect, parse_address
from distributed.comm.addressing import parse_host_port
from distributed.comm.registry import backends
from distributed.security import Security

from grader.errors import UsageError

SCHEDULER_PORT = 8786
"""The port ``dask scheduler`` listens on unless told otherwise (its dashboard is a web page on 8787)."""


def check(address: str, seconds: float) -> None:
    """Return if a Dask scheduler answers at ``address`` within ``seconds``; else raise a :class:`UsageError`."""
    try:
        scheme, location = parse_address(address)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--dask {address}: not a Dask address ({exc}); give the scheduler's, "
                         f"as tcp://HOST:{SCHEDULER_PORT}, or local") from None
    if scheme not in backends:
        raise UsageError(f"--dask {address}: not a Dask address ({scheme}:// is not one of Dask's schemes, "
                         f"{', '.join(sorted(backends))}); give the scheduler's, as tcp://HOST:{SCHEDULER_PORT}, "
                         "or local")
    if scheme in ("tcp", "tls"):
        _accepts(address, location, seconds)
    try:
        reply = _ask(address, seconds)
    except Exception as exc:  # noqa: BLE001 - a timeout, a closed connection, bytes that are not a Dask message
        if scheme in ("tcp", "tls"):
            raise UsageError(f"--dask {address}: something listens there, but it did not answer as a Dask "
                             f"scheduler within {seconds:g} s ({_why(exc)}); is it a dashboard's address? A "
                             f"scheduler listens on port {SCHEDULER_PORT} unless told otherwise") from None
        raise unanswered(address, seconds, exc) from None
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        what = f"that is a Dask {kind.lower()}" if isinstance(kind, str) else "what answered there is not Dask"
        raise UsageError(f"--dask {address}: {what}, not the scheduler; give the scheduler's address (the one its "
                         "workers were started with)")


def _accepts(address: str, location: str, seconds: float) -> None:
    """Return if anything accepts a TCP connection at ``location`` (``host:port``) within ``seconds``."""
    try:
        host, port = parse_host_port(location, SCHEDULER_PORT)
        with socket.create_connection((host, int(port)), timeout=seconds):
            return
    except (OSError, TypeError, ValueError) as exc:
        raise unanswered(address, seconds, exc) from None


def unanswered(address: str, seconds: float, exc: BaseException) -> UsageError:
    """The usage error for an address where no Dask scheduler answered within ``seconds`` (``exc``: why)."""
    return UsageError(f"--dask {address}: no Dask scheduler answered there within {seconds:g} s ({_why(exc)})")


def _ask(address: str, seconds: float) -> Any:
    """:func:`_identity` with a deadline on the whole exchange, on an event loop of its own in a short-lived
    thread: the caller's thread may already run one (a notebook's), where ``asyncio.run`` refuses to start."""
    found: dict[str, Any] = {}

    def ask() -> None:
        try:
            found["reply"] = asyncio.run(asyncio.wait_for(_identity(address, seconds), seconds))
        except BaseException as exc:  # noqa: B036 - handed to the caller's thread
            found["error"] = exc

    thread = threading.Thread(target=ask, name="dask-address-check", daemon=True)
    thread.start()
    thread.join(seconds + 5)
    if "error" in found:
        raise found["error"]
    if "reply" not in found:
        raise TimeoutError("no answer")
    return found["reply"]


async def _identity(address: str, seconds: float) -> Any:
    """The ``identity`` reply of the Dask server at ``address``, over a connection made as a client's is
    (TLS and the like from Dask's configuration)."""
    comm = await connect(address, timeout=seconds, **Security().get_connection_args("client"))
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def _why(exc: BaseException) -> str:
    text = str(exc) or "no answer"
    return f"{type(exc).__name__}: {text}"
