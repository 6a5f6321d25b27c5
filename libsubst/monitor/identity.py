"""Who a guest is on the host.  A root caller's guest is root of a user
namespace of its own whose 65536 uids and gids are unprivileged host ids:
those /etc/subuid and /etc/subgid give the user ``libsubst``, or else from
DEFAULT_BASE, well above the ranges useradd hands out there (from 100000,
65536 a user).  Any other caller's guest is that user, mapped to itself."""

from __future__ import annotations

from ..errors import LibsubstError
from .bootinfo import _abi

DEFAULT_BASE = 1_000_000_000
IDS = getattr(_abi()[1], "LS_GUEST_IDS")   # the tender maps this many (libsubst/bootinfo.h)
OWNER = "libsubst"


def subordinate_base(path: str, owner: str = OWNER) -> int:
    """The first id of ``owner``'s range of at least IDS ids in a subid file."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return DEFAULT_BASE
    for line in lines:
        name, _, rest = line.partition(":")
        if name.strip() != owner:
            continue
        try:
            start, count = (int(x) for x in rest.split(":"))
        except ValueError:
            raise LibsubstError(f"{path}: cannot read the line {line!r}") from None
        if count < IDS:
            raise LibsubstError(f"{path}: {owner}'s range has {count} ids; a guest needs {IDS}")
        if start < IDS:
            raise LibsubstError(f"{path}: {owner}'s range starts at {start}, among the host's "
                                f"own users and groups; it must start at {IDS} or above")
        return start
    return DEFAULT_BASE


def host_ids() -> tuple[int, int]:
    """The first host uid and gid of a root caller's guest."""
    return subordinate_base("/etc/subuid"), subordinate_base("/etc/subgid")
