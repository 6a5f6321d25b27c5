/*
 * Memory every process of one guest shares: a memfd that the
 * guest's first boot makes, that fork inherits (a MAP_SHARED mapping and a
 * kernel fd) and that execve hands to the next kernel (bootinfo.h's
 * shared_fd).  Each process of a guest is a host process with a kernel of
 * its own; what they must agree on lives here, in struct kshared's named
 * fields (kernel.h), one fixed layout.
 *
 * It is guest-writable memory, as all of the kernel's is: nothing read
 * from it may decide what the host lets the guest reach.  A forged value
 * can only make the guest see its own files wrongly (the seccomp filter,
 * Landlock and the namespaces hold whatever it says).
 */
#include "kernel.h"
#include "fs/fs.h"

struct kshared *K_shared;
static int shared_fd = -1;

#define SHARED_SIZE LS_PAGE_UP(sizeof(struct kshared))

int shared_init(void)
{
    long fd;
    if (K.bi->flags & LS_BOOT_EXECED) {
        fd = K.bi->shared_fd;
        if (fd < 0)
            return -EBADF;
    } else {
        fd = fs_memfd_new("libsubst-shared", 1);
        long r = fd < 0 ? fd : hsys2(__NR_ftruncate, fd, SHARED_SIZE);
        if (r < 0) {
            if (fd >= 0)
                hsys1(__NR_close, fd);
            return r;
        }
    }
    if ((shared_fd = kfd_hide(fd)) < 0)
        return shared_fd;
    long p = hsys6(__NR_mmap, 0, SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 0);
    if (p < 0 && p > -4096)
        return p;
    mm_note_kernel(p, SHARED_SIZE);
    K_shared = (struct kshared *)p;
    return 0;
}

int shared_hand_over(void)
{
    hsys3(__NR_fcntl, shared_fd, F_SETFD, 0);
    return shared_fd;
}

void shared_take_back(void)
{
    hsys3(__NR_fcntl, shared_fd, F_SETFD, FD_CLOEXEC);
}
