/*
 * The next kernel's side of an execve (execve.c): the exec block it booted
 * with (proc/exec.h), checked, taken into the boot info's header, the
 * working directory and the fd table, and the program it names.
 */
#include "kernel.h"
#include "proc/proc.h"
#include "fs/fs.h"
#include "proc/exec.h"

const struct exec_args *block_args(const struct exec_block *h, struct exec_args *a)
{
    const char *base = (const char *)h;
    const uint32_t *v = (const uint32_t *)(base + h->strs);
    const char **strs = kmalloc((h->argc + h->envc + 1) * sizeof *strs);
    if (!strs)
        return 0;
    for (uint32_t i = 0; i < h->argc + h->envc; i++)
        strs[i] = base + v[i];
    *a = (struct exec_args){.exe = base + h->exe, .execfn = base + h->execfn, .argv = strs,
                            .envp = strs + h->argc, .argc = h->argc, .envc = h->envc,
                            .uid = K.bi->uid, .gid = K.bi->gid};
    return a;
}

static const struct exec_block *xb;

static const char *xb_str(uint32_t off)
{
    return (const char *)xb + off;
}

/* A block the calling kernel wrote, checked all the same: every offset in
 * it, every string ended. */
static int xb_valid(unsigned long size)
{
    if (xb->magic != EXEC_BLOCK_MAGIC || xb->size != size || xb->strs > size ||
        xb->argc > (size - xb->strs) / 4 || xb->envc > (size - xb->strs) / 4 - xb->argc ||
        xb->nofollow > size || xb->nofollow % 4 || xb->nnofollow > (size - xb->nofollow) / 4)
        return 0;
    const uint32_t *v = (const uint32_t *)xb_str(xb->strs);
    uint32_t one[4] = {xb->exe, xb->execfn, xb->cwd, xb->root};
    for (uint32_t i = 0; i < xb->argc + xb->envc + 4; i++) {
        uint32_t off = i < 4 ? one[i] : v[i - 4];
        if (off < sizeof *xb || off >= size || !memchr(xb_str(off), 0, size - off))
            return 0;
    }
    return 1;
}

/* The entries of the fds of directories (and O_PATH fds) the kernel serves
 * that the exec kept: each checked, one that is not sound left out. */
static void take_kept(unsigned long size)
{
    unsigned long off = xb->kept;
    for (uint32_t i = 0; i < xb->nkept && off % 4 == 0 && off < size &&
                         size - off > sizeof(struct exec_kept_fd); i++) {
        const struct exec_kept_fd *k = (const struct exec_kept_fd *)xb_str(off);
        const char *path = (const char *)(k + 1);
        const char *end = memchr(path, 0, size - off - sizeof *k);
        if (!end)
            return;
        off = (end + 1 - (const char *)xb + 3) & ~3UL;
        if ((k->kind != KF_IMAGE && k->kind != KF_SYNTH) || !fd_valid(k->fd) ||
            (k->kind == KF_IMAGE && (k->ent < -1 || k->ent >= img_count())) ||
            hsys2(__NR_fcntl, k->fd, F_GETFD) < 0)
            continue;
        struct kofd *o = kofd_new(k->kind, k->flags, k->ent,
                                  (long)((unsigned long)k->arg_hi << 32 | k->arg_lo), *path ? path : 0);
        if (!o)
            return;
        o->fl = k->fl & FS_SETFL_FLAGS;
        o->pos = (long)((unsigned long)k->pos_hi << 32 | k->pos_lo);
        o->ino = (unsigned long)k->ino_hi << 32 | k->ino_lo;
        fd_install(k->fd, o);
    }
}

/* A guest fd the exec kept that no entry names (the host's own files, to
 * the calling kernel as to this one): a process's mem or pagemap gets its
 * entry back (synth_mem_adopt), or a read of it would be the host's, the
 * calling kernel's memory included. */
static void adopt_kept(long fd, void *unused)
{
    (void)unused;
    struct kofd *o = fd_get(fd);
    if (!o)
        synth_mem_adopt(fd);
    kofd_put(o);
}

long exec_block_take(const char *blk, unsigned long size)
{
    xb = (const struct exec_block *)blk;
    if (!xb_valid(size))
        return -EINVAL;
    struct ls_bootinfo *h = kmalloc(sizeof *h);
    if (!h)
        return -ENOMEM;
    *h = *K.bi;
    h->trace_fd = xb->trace_fd;
    h->report_fd = xb->report_fd;
    h->core_fd = xb->core_fd;
    h->image_fd = xb->image_fd;
    h->port_fd = xb->port_fd;
    h->trace_sum_fd = xb->trace_sum_fd;
    h->shared_fd = xb->shared_fd;
    h->debug_fd = -1;                   /* the first program's debugger handshake only */
    h->flags |= LS_BOOT_EXECED;
    K.bi = h;
    K.cwd = xb_str(xb->cwd);
    K.cwd_host = xb->cwd_host;
    K.root = xb_str(xb->root);
    /* What this kernel knows of the fds the exec kept: whose O_NOFOLLOW is
     * its own (a close-on-exec one the host closed is not there). */
    const int32_t *nf = (const int32_t *)xb_str(xb->nofollow);
    for (uint32_t i = 0; i < xb->nnofollow; i++) {
        long fl = hsys2(__NR_fcntl, nf[i], F_GETFL);
        if (fl >= 0 && (fl & O_NOFOLLOW) && fd_valid(nf[i]))
            fd_install(nf[i], kofd_new(KF_HOST, KF_F_NOFOLLOW, 0, 0, 0));
    }
    take_kept(size);
    fd_each_guest(adopt_kept, 0);
    return 0;
}

int exec_block_args(struct exec_args *a)
{
    if (!xb)
        return 0;
    if (!block_args(xb, a))
        kpanic("out of memory");
    return 1;
}
