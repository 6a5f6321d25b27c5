/*
 * The host-call allow-list, installed last at boot: only what
 * libsubst/kernel/hostcalls.py lists reaches the host, with the pinned
 * arguments it pins; anything else kills the guest (EPERM for a pinned call
 * whose arguments match no pin).  The guest's own `syscall`s never get here
 * (Syscall User Dispatch traps them first); this bounds what kernel text —
 * and a guest that jumps into it — can ask of the host.  The per-boot
 * constants it pins (hostcalls.BOOT_SLOTS) are written in just before.
 */
#include "tender.h"
#include "seccomp_filter.h"
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>

static long install(const void *filter, unsigned short len)
{
    long r = hsys5(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (r < 0)
        return r;
    struct sock_fprog prog = {.len = len, .filter = (struct sock_filter *)filter};
    return hsys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog);
}

/* The relay's own, smaller list (hostcalls.RELAY). */
long tender_seccomp_relay(void)
{
    return install(ls_relay_filter, ls_relay_filter_len);
}

/* The filter is generated per kernel (seccomp_filter.c): a specialised
 * kernel carries only the host calls its own code can make. */
long tender_seccomp(const struct ls_lockdown *lock)
{
    struct ls_bpf *filter = ls_seccomp_filter;
    unsigned value[LS_NSLOT_KINDS];
    value[LS_SLOT_KTEXT_LEN] = lock->text_end - lock->text_start;
    value[LS_SLOT_SUD_IP] = lock->sud_ip - lock->text_start;
    for (unsigned i = 0; i < ls_seccomp_nslots; i++)
        filter[ls_seccomp_slots[i].index].k = value[ls_seccomp_slots[i].slot];
    return install(filter, ls_seccomp_len);
}
