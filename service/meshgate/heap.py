"""The C heap of the service process, on glibc: how many malloc arenas its threads may spread over, and
handing its free pages back after a compile.

glibc gives a thread that finds the heap busy an arena of its own, up to 8 per core; each keeps the
memory its thread freed for that thread's later use. `meshgate serve` runs some twenty threads (gRPC
workers and the C core's own, the HTTP side, the watchers), so objects allocated by the workers, such
as 100,000 cached tokens, leave free pages scattered over a dozen arenas: ~10 MiB of RSS that one or
two arenas would have reused. Elsewhere (musl, macOS) there is nothing to set.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

M_ARENA_MAX = -8  # glibc's <malloc.h>
SERVICE_ARENAS = 2
ENV_ARENA_MAX = "MALLOC_ARENA_MAX"  # glibc's own setting, read at start; the operator's wins


def _load_mallopt() -> Callable[[int, int], int] | None:
    try:
        mallopt: Callable[[int, int], int] = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None
    return mallopt


def limit_arenas(arenas: int = SERVICE_ARENAS, *, mallopt: Callable[[int, int], int] | None = None) -> bool:
    """Let the threads started from now on share at most `arenas` malloc arenas, unless the environment
    sets MALLOC_ARENA_MAX itself. True if set; call it before starting threads."""
    if os.environ.get(ENV_ARENA_MAX):
        return False
    set_option = mallopt or _load_mallopt()
    return set_option is not None and set_option(M_ARENA_MAX, arenas) == 1


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to call
        return None
    return trim


_malloc_trim = _load_malloc_trim()


def return_free_heap() -> None:
    """Give the C heap's free pages back to the system, which glibc otherwise keeps: a compile has just
    freed the policy files' texts and its own garbage (~20 MB of RSS at 100,000 rules after the first load,
    ~40 MB after a reload)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
