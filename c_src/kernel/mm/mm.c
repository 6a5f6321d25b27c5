/*
 * Guest memory: the program's brk and the guard that keeps guest mapping
 * calls off the kernel's own memory.  Anonymous and file mappings go to the
 * host unchanged (every guest fd is a host fd), so freed memory returns to
 * the host at once.  The break starts where the loader puts it
 * (proc/exec.c: randomised as Linux's).
 */
#include "mm/mm.h"
#include "fs/fs.h"
#include "report_records.h"
#include "proc/ptable.h"
#include <asm/shmbuf.h>

#define MAX_KREGIONS 4096       /* the image, and two stacks per thread ever made */
#define MAX_OBJECTS 256

static struct { unsigned long start, end; } kregions[MAX_KREGIONS];
static int nkregions;
static unsigned long brk_base, brk_cur;
static int mm_lock;               /* objects, kernel regions and the break */

static struct { unsigned long base, end; char *path; } objects[MAX_OBJECTS];
static int nobjects;

void mm_note_kernel(unsigned long start, unsigned long len)
{
    kspin_lock(&mm_lock);
    if (nkregions < MAX_KREGIONS) {
        kregions[nkregions].start = start;
        kregions[nkregions].end = start + len;
        /* Published last: readers do not lock. */
        __atomic_store_n(&nkregions, nkregions + 1, __ATOMIC_RELEASE);
    }
    kspin_unlock(&mm_lock);
    ptable_note_kernel(start, start + len);
}

void mm_each_kernel(void (*fn)(unsigned long start, unsigned long end))
{
    fn(K.kimg_start, K.kimg_end);
    int n = __atomic_load_n(&nkregions, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++)
        fn(kregions[i].start, kregions[i].end);
}

int mm_is_kernel_range(unsigned long start, unsigned long len)
{
    unsigned long end = start + len;
    if (end < start)
        return 1;
    if (start < K.kimg_end && end > K.kimg_start)
        return 1;
    for (int i = 0; i < nkregions; i++)
        if (start < kregions[i].end && end > kregions[i].start)
            return 1;
    return 0;
}

void mm_note_object(unsigned long base, unsigned long end, const char *path)
{
    kspin_lock(&mm_lock);
    for (int i = 0; i < nobjects; i++)
        if (objects[i].base == base) {
            kfree(objects[i].path);
            objects[i] = objects[--nobjects];
            break;
        }
    if (nobjects < MAX_OBJECTS && path) {
        objects[nobjects].base = base;
        objects[nobjects].end = end;
        objects[nobjects].path = kstrdup(path);
        nobjects++;
    }
    kspin_unlock(&mm_lock);
}

int mm_in_object(unsigned long addr)
{
    for (int i = 0; i < nobjects; i++)
        if (addr >= objects[i].base && addr < objects[i].end)
            return hsys3(__NR_mincore, LS_PAGE_DOWN(addr), LS_PAGE, (long)&(unsigned char){0}) == 0;
    return 0;
}

/* Names each object by its entry in the boot info (-1: not the image's),
 * never by path: the monitor symbolises only files it placed itself. */
void mm_report_objects(int fd)
{
    for (int i = 0; i < nobjects; i++)
        kdprintf(fd, LS_REPORT_OBJECT, objects[i].base, objects[i].end,
                 img_lookup(objects[i].path));
}

void mm_set_brk_base(unsigned long end)
{
    brk_base = brk_cur = LS_PAGE_UP(end);
}

void mm_heap(unsigned long *start, unsigned long *end)
{
    *start = brk_base;
    *end = LS_PAGE_UP(brk_cur);
}

/* Implements brk(2): grows with fresh anonymous pages just above the
 * program; a request that would overlap another mapping fails as Linux's
 * does (the old break is returned and glibc's malloc falls back to mmap). */
static long brk_locked(unsigned long addr);

long sys_brk(unsigned long addr)
{
    kspin_lock(&mm_lock);
    long r = brk_locked(addr);
    kspin_unlock(&mm_lock);
    return r;
}

static long brk_locked(unsigned long addr)
{
    if (addr < brk_base)
        return brk_cur;
    unsigned long old_top = LS_PAGE_UP(brk_cur), new_top = LS_PAGE_UP(addr);
    if (new_top > old_top) {
        if (mm_is_kernel_range(old_top, new_top - old_top))
            return brk_cur;
        long r = hsys6(__NR_mmap, old_top, new_top - old_top, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (r < 0 && r > -4096)
            return brk_cur;
    } else if (new_top < old_top) {
        hsys2(__NR_munmap, new_top, old_top - new_top);
    }
    brk_cur = addr;
    return brk_cur;
}

/* A mapping of an image file that does not start on a page of the image (a
 * small file): private anonymous memory holding a copy.  The image never
 * changes, so a read-only MAP_SHARED mapping of it is the same as a copy. */
static long mmap_copy(unsigned long addr, unsigned long len, long prot, long flags, long fd,
                      unsigned long hoff, unsigned long avail)
{
    if ((flags & MAP_TYPE) != MAP_PRIVATE && (prot & PROT_WRITE))
        return -EACCES;             /* a shared writable map of a read-only fd */
    long aflags = (flags & ~(MAP_TYPE | MAP_DENYWRITE | MAP_EXECUTABLE)) | MAP_PRIVATE |
                  MAP_ANONYMOUS;
    long r = hsys6(__NR_mmap, addr, len, prot | PROT_WRITE, aflags, -1, 0);
    if (r < 0 && r > -4096)
        return r;
    if (mm_is_kernel_range(r, LS_PAGE_UP(len))) {
        hsys2(__NR_munmap, r, len);  /* cannot happen: the host never maps over a mapping */
        return -ENOMEM;
    }
    unsigned long want = avail < len ? avail : len, done = 0;
    while (done < want) {
        long n = hsys4(__NR_pread64, fd, r + done, want - done, hoff + done);
        if (n <= 0) {
            hsys2(__NR_munmap, r, len);
            return n < 0 ? n : -EIO;
        }
        done += n;
    }
    if (!(prot & PROT_WRITE))
        hsys3(__NR_mprotect, r, len, prot);
    return r;
}

/* Implements shmat(2); differs from Linux in: SHM_REMAP over kernel memory
 * fails with EINVAL. */
long sys_shmat(long id, unsigned long addr, long flags)
{
    if (addr && (flags & 040000 /* SHM_REMAP */)) {
        struct shmid64_ds ds;
        long r = hsys3(__NR_shmctl, id, 2 /* IPC_STAT */, (long)&ds);
        if (r < 0)
            return r;
        if (mm_is_kernel_range(addr, LS_PAGE_UP(ds.shm_segsz)))
            return -EINVAL;
    }
    return hsys3(__NR_shmat, id, addr, flags);
}

/* Implements mmap(2); differs from Linux in: MAP_FIXED over kernel memory
 * fails with ENOMEM; a file of a packed image maps the image's pages (no
 * copy), so pages past the file's end but inside the mapping show the
 * image's next bytes (zeros up to the next page, then the next file) where
 * Linux would raise SIGBUS (a small image file is copied instead: see
 * mmap_copy).  File mappings at offset 0 are noted as guest
 * objects (ld.so maps each library so) for crash reports. */
long sys_mmap(unsigned long addr, unsigned long len, long prot, long flags, long fd, long off)
{
    if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && mm_is_kernel_range(addr, LS_PAGE_UP(len)))
        return -ENOMEM;
    long r;
    if (!(flags & MAP_ANONYMOUS) && fs_fd_is_based(fd)) {
        unsigned long hoff, avail;
        r = fs_mmap_window(fd, off, &hoff, &avail);
        if (r == 1)
            return mmap_copy(addr, len, prot, flags, fd, hoff, avail);
        if (r < 0)
            return r;
        off = hoff;
    }
    r = hsys6(__NR_mmap, addr, len, prot, flags, fd, off);
    if (r >= 0 || r < -4095) {
        if (!(flags & MAP_ANONYMOUS) && off == 0 && !(flags & MAP_FIXED)) {
            char *path = fs_fd_path(fd);
            if (path)
                mm_note_object(r, r + LS_PAGE_UP(len), path);
            kfree(path);
        }
        if (mm_is_kernel_range(r, LS_PAGE_UP(len)) && !(flags & MAP_FIXED)) {
            /* cannot happen: the host never places a mapping over another */
            hsys2(__NR_munmap, r, len);
            return -ENOMEM;
        }
    }
    return r;
}

/* Implements munmap(2); differs from Linux in: kernel memory is refused (EINVAL). */
long sys_munmap(unsigned long addr, unsigned long len)
{
    if (mm_is_kernel_range(addr, LS_PAGE_UP(len)))
        return -EINVAL;
    return hsys2(__NR_munmap, addr, len);
}

/* Implements mprotect(2); differs from Linux in: kernel memory is refused (EACCES). */
long sys_mprotect(unsigned long addr, unsigned long len, long prot)
{
    if (mm_is_kernel_range(addr, LS_PAGE_UP(len)))
        return -EACCES;
    return hsys3(__NR_mprotect, addr, len, prot);
}

/* Implements mremap(2); differs from Linux in: kernel memory is refused. */
long sys_mremap(unsigned long old, unsigned long old_len, unsigned long new_len, long flags,
                unsigned long new_addr)
{
    if (mm_is_kernel_range(old, LS_PAGE_UP(old_len)) ||
        ((flags & MREMAP_FIXED) && mm_is_kernel_range(new_addr, LS_PAGE_UP(new_len))))
        return -EINVAL;
    return hsys5(__NR_mremap, old, old_len, new_len, flags, new_addr);
}

/* Implements remap_file_pages(2) by the host's, which emulates it since
 * Linux 4.0 (a new mmap of the shared mapping's file at the range); differs
 * from Linux in: kernel memory is refused (EINVAL). */
long sys_remap_file_pages(unsigned long start, unsigned long size, long prot, unsigned long pgoff,
                          long flags)
{
    if (mm_is_kernel_range(LS_PAGE_DOWN(start), LS_PAGE_UP(size)))
        return -EINVAL;
    return hsys5(__NR_remap_file_pages, start, size, prot, pgoff, flags);
}

void mm_after_fork(void)
{
    mm_lock = 0;
}
