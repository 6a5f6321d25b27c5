/*
 * The names the guest bound its Unix sockets by.  The host knows a socket
 * by the host path net/unix.c made of the guest's name, which maps back to
 * the volume's guest path; but the guest may have named it otherwise (a
 * path relative to its working directory, one through a symlink), and Linux
 * shows the name as bound (getsockname, getpeername, /proc/net/unix).  Each
 * bind records its pair in a ring in the memory the guest's processes share
 * (struct kshared), so a process sees the names its parent or a peer gave;
 * the newest pair for a host path wins, and a path whose pair the ring has
 * dropped shows as its volume's guest path.  Guest-writable memory: a name
 * read here is only ever shown to the guest.
 */
#include "net/net.h"

void unix_name_record(const char *host, const char *guest)
{
    if (!K_shared)
        return;
    uint32_t gen = __atomic_fetch_add(&K_shared->sockname_next, 1, __ATOMIC_RELAXED);
    struct ksockname *e = &K_shared->socknames[gen % SN_SLOTS];
    /* Two binds racing for one slot (SN_SLOTS binds apart) may mix their
     * names: the guest then sees one of its own names wrongly, no more. */
    __atomic_store_n(&e->seq, e->seq | 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    e->gen = gen;
    strlcpy(e->host, host, sizeof e->host);
    strlcpy(e->guest, guest, sizeof e->guest);
    __atomic_store_n(&e->seq, (e->seq | 1) + 1, __ATOMIC_RELEASE);
}

long unix_name_find(const char *host, char *out, size_t cap)
{
    long found = -ENOENT;
    uint32_t best = 0;
    /* No bind yet: the ring's pages stay untouched (unallocated). */
    if (!K_shared || !__atomic_load_n(&K_shared->sockname_next, __ATOMIC_RELAXED))
        return found;
    for (int i = 0; i < SN_SLOTS; i++) {
        struct ksockname *e = &K_shared->socknames[i];
        char h[sizeof e->host], g[sizeof e->guest];
        uint32_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1 || !s1)
            continue;
        uint32_t gen = e->gen;
        memcpy(h, e->host, sizeof h);
        memcpy(g, e->guest, sizeof g);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != s1)
            continue;
        h[sizeof h - 1] = g[sizeof g - 1] = 0;
        /* gen - best: the newest, even across the counter's wrap. */
        if (strcmp(h, host) == 0 && (found < 0 || (int32_t)(gen - best) > 0)) {
            size_t n = strlen(g);
            if (n >= cap)
                continue;
            memcpy(out, g, n + 1);
            found = n;
            best = gen;
        }
    }
    return found;
}
