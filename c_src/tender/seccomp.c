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
#include "host_constants.h"
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
long tender_seccomp(const struct ls_lockdown *lock, int sealed)
{
    struct ls_bpf *filter = ls_seccomp_filter;
    unsigned value[LS_NSLOT_KINDS];
    value[LS_SLOT_KTEXT_LEN] = lock->text_end - lock->text_start;
    value[LS_SLOT_SUD_IP] = lock->sud_ip - lock->text_start;
    value[LS_SLOT_RESOLVE_IP] = lock->resolve_ip - lock->resolve_how;
    value[LS_SLOT_OPEN_RO_IP] = lock->resolve_ip - lock->open_ro_how;
    value[LS_SLOT_OPEN_RD_IP] = lock->resolve_ip - lock->open_rd_how;
    value[LS_SLOT_OPEN_NB_IP] = lock->resolve_ip - lock->open_nb_how;
    /* An open_how that could be changed would let kernel text create files
     * with any mode: openat2 then gets a size it always refuses. */
    value[LS_SLOT_HOW_SIZE] = sealed ? 24 /* sizeof(struct open_how) */ : 0;
    for (unsigned i = 0; i < ls_seccomp_nslots; i++)
        filter[ls_seccomp_slots[i].index].k = value[ls_seccomp_slots[i].slot];
    return install(filter, ls_seccomp_len);
}

/* Seals the text and the read-only pages before it (mseal, Linux 6.10):
 * no mprotect, munmap, mremap or mmap over them, from this process or any
 * it forks, until execve, whose next boot seals them again (under the
 * filter it inherits, which allows mseal).  The pages before the text
 * too: the filter pins openat2's open_how to a distance before the call,
 * and a `syscall` near the text's start puts that place there.  1 if
 * sealed, 0 if the host has no mseal (the filter then refuses openat2),
 * and any other failure is fatal: the filter may already rely on the
 * seal. */
int tender_seal_text(const struct ls_lockdown *lock)
{
    unsigned long start = lock->image_start & ~4095UL, end = (lock->text_end + 4095) & ~4095UL;
    long r = hsys3(__NR_mseal, start, end - start, 0);
    if (r == -ENOSYS)
        return 0;
    if (r < 0)
        tender_fatal("cannot seal the kernel's text (mseal): error %ld", -r);
    return 1;
}
