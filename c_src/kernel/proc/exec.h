/*
 * execve's two halves: the checks the calling kernel makes before the point
 * of no return (exec_check.c) and the loader the next kernel runs (exec.c).
 */
#ifndef LS_PROC_EXEC_H
#define LS_PROC_EXEC_H

#include "kernel.h"
#include "libsubst/exec.h"
#include <linux/elf.h>

/* Linux's load_elf_phdrs: the table is at most 64 KiB. */
#define ELF_MAX_PHNUM (65536 / sizeof(Elf64_Phdr))

struct elf_head {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[ELF_MAX_PHNUM];
};

/* n bytes at file offset off of a file whose bytes start at base of host
 * fd fd: 0, -EIO if the file is shorter, or -errno. */
long elf_read_at(int fd, unsigned long base, void *buf, size_t n, unsigned long off);
/* The program's ELF header and program headers, checked as Linux checks
 * them before loading: 0 or -ENOEXEC (or the host's read error). */
long elf_read_head(int fd, unsigned long base, struct elf_head *h);
long elf_read_phdrs(int fd, unsigned long base, struct elf_head *h);
/* The first PT_INTERP's path into interp (LS_PATH_MAX bytes): 1, 0 if the
 * program has none, -ENOEXEC if it is malformed, -EIO if cut short. */
long elf_read_interp(int fd, unsigned long base, const struct elf_head *h, char *interp);

/* Opens path for execution as Linux's open_exec: its resolved guest path
 * into real (LS_PATH_MAX bytes), a host fd (see fs_open_exec) or -errno. */
long exec_open(const char *path, char *real, unsigned long *base);
/* The same from dirfd, following a last symlink or not (ELOOP). */
long exec_open_at(long dirfd, const char *path, int follow, char *real, unsigned long *base);

/* One execve's program, resolved through "#!" scripts. */
struct exec_req {
    long dirfd;                             /* execveat's dirfd and path, as given */
    const char *path;
    int follow;                             /* no AT_SYMLINK_NOFOLLOW */
    long fd_named;                          /* N when filename is /dev/fd/N[/path], or -1 */
    const char *filename;                   /* the name a script's interpreter gets */
    char fdpath[32];                        /* /proc/self/fd/N, for AT_EMPTY_PATH */
    char name[LS_PATH_MAX];                 /* /dev/fd/N[/path] */
    const char **args;                      /* argv, rewritten for scripts; room + 1 slots */
    int nargs, room;
    char real[LS_PATH_MAX];                 /* out: the ELF program's resolved path */
    char line[LS_EXEC_MAX_DEPTH + 1][LS_BINPRM_BUF_SIZE];  /* the "#!" lines (args point here) */
};
/* Everything Linux checks before the point of no return: 0 or -errno. */
long exec_resolve(struct exec_req *q);

/*
 * The exec block: what a guest's execve hands the next kernel beside the
 * boot info, which it passes on unchanged (the same memfd), as
 *     libsubst-kernel BOOTINFO_FD EXEC_FD
 * The program as the calling kernel resolved it, its argv and envp, the
 * working directory and root, the kernel's own fds at their new numbers, and the
 * guest's fds whose host O_NOFOLLOW the kernel added (F_GETFL and fdinfo
 * leave it out after the execve as before), and the entries of those it
 * serves itself (a directory of the image or /proc: it lists and keeps its
 * status flags after the execve as before).
 * Written and read (checked) by execve.c; a string is an offset of a
 * NUL-terminated string in the block.
 */
#define EXEC_BLOCK_MAGIC 0x6b6c426365784573UL    /* "sExecBlk" */
struct exec_block {
    uint64_t magic;
    uint32_t size;                          /* bytes in the whole block */
    int32_t trace_fd, report_fd, core_fd, image_fd, port_fd, trace_sum_fd, shared_fd;
    uint32_t exe, execfn, cwd, root;        /* strings; root: the chroot (fs/root.c) */
    uint32_t cwd_host;                      /* the host's cwd is cwd's directory (fs.h) */
    uint32_t argc, envc;                    /* argc then envc string offsets (uint32) at strs */
    uint32_t strs;
    uint32_t nofollow, nnofollow;           /* nnofollow fds (int32) at nofollow whose host
                                               O_NOFOLLOW is the kernel's (fs.h KF_F_NOFOLLOW) */
    uint32_t kept, nkept;                   /* nkept struct exec_kept_fd from kept, each
                                               followed by its path and padded to 4 bytes */
};
/* An fd the kernel serves (an image or /proc directory, an O_PATH fd of a
 * file it serves: fs.h KF_IMAGE, KF_SYNTH) the exec keeps open: its host fd
 * is a placeholder, so the next kernel knows it only by this record of the
 * caller's entry (struct kofd's fields). */
struct exec_kept_fd {
    int32_t fd, kind, flags, ent;
    uint32_t arg_lo, arg_hi, fl, pos_lo, pos_hi, ino_lo, ino_hi;
};
/* The next kernel takes the exec block mapped at blk (size bytes): the boot
 * info's header becomes a copy with the block's fds, K.cwd its working
 * directory, K.root its root.  0, or -EINVAL for a malformed block. */
long exec_block_take(const char *blk, unsigned long size);
/* The program an exec block h names, into a (its argv and envp one new
 * array, a->argv, that the caller frees); a, or NULL without memory. */
const struct exec_args *block_args(const struct exec_block *h, struct exec_args *a);
/* The program the exec block names into a: 1, or 0 without a block (the
 * first boot). */
int exec_block_args(struct exec_args *a);

/* Maps a's program (struct exec_args, kernel.h) and its PT_INTERP as
 * binfmt_elf does and builds the initial stack: the entry point and stack
 * pointer to start at, or -errno.  a stays the program's (ls_prog). */
long exec_load(const struct exec_args *a, unsigned long *entry, unsigned long *sp);

/* A load that fails past the point of no return: the process dies by
 * SIGSEGV, as Linux's bprm_execve ends it. */
void exec_fail_late(void) __attribute__((noreturn));

#endif
