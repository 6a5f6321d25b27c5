/*
 * EFAULT conformance: every call the guest kernel serves itself that takes a
 * pointer, given an unmapped address for one pointer at a time, through
 * glibc's syscall() (the fastcall path when libc is substituted; the trap
 * path under --no-subst).  Linux answers EFAULT; the caller keeps running.
 * One line per call: "label = result errno".
 *
 *   efault DIR      DIR a scratch directory (made and used from inside)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_GET_FS 0x1003

static void report(const char *label, long r)
{
    if (r < 0)
        printf("%s = %ld %s\n", label, r, strerrorname_np(errno));
    else
        printf("%s = %ld\n", label, r);
    fflush(stdout);
}

#define T(label, ...) report(label, syscall(__VA_ARGS__))

/* openat of a path that ends at the last byte of a page followed by a
 * PROT_NONE one, of every length from 4 to 24 bytes (so its NUL sits at
 * every place in an 8-byte word): "file" spelled ".//…/file" (".file", 5
 * bytes, is missing); one whose last 4 bytes fill the page with no NUL
 * (EFAULT); and paths of 4095 and 4096 bytes (PATH_MAX with the NUL, one
 * past).  An opened fd is closed and reported as 0.  The guest kernel
 * copies paths a word at a time (arch/x86_64/uaccess.S). */
static void edge_paths(int dfd)
{
    char *two = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (two == MAP_FAILED || mprotect(two + 4096, 4096, PROT_NONE) < 0)
        exit(1);
    char label[64], *end = two + 4096;
    for (int len = 4; len <= 24; len++) {
        char *p = end - len - 1;
        if (len > 4) {
            p[0] = '.';
            memset(p + 1, '/', len - 5);
        }
        memcpy(end - 5, "file", 5);
        long r = syscall(SYS_openat, dfd, p, O_RDONLY);
        snprintf(label, sizeof label, "openat(%d bytes at a page's end)", len);
        report(label, r > 0 ? close(r) : r);
    }
    memcpy(end - 4, "file", 4);
    T("openat(no NUL before a PROT_NONE page)", SYS_openat, dfd, end - 4, O_RDONLY);
    static char longest[4097];
    for (int len = 4095; len <= 4096; len++) {
        memset(longest, '/', len);
        longest[0] = '.';
        memcpy(longest + len - 4, "file", 5);
        long r = syscall(SYS_openat, dfd, longest, O_RDONLY);
        snprintf(label, sizeof label, "openat(%d bytes)", len);
        report(label, r > 0 ? close(r) : r);
    }
    munmap(two, 8192);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (mkdir(argv[1], 0755) < 0 && errno != EEXIST) || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: efault DIR\n");
        return 2;
    }
    /* An address no access can reach: a PROT_NONE page, which (unlike a
     * page given back) no later mmap can reuse. */
    char *bad = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* A page that can be read but not written. */
    char *ro = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bad == MAP_FAILED || ro == MAP_FAILED)
        return 1;

    close(open("file", O_WRONLY | O_CREAT | O_TRUNC, 0644));
    int fd = open("file", O_RDWR);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    int rootfd = open("/", O_RDONLY | O_DIRECTORY);
    char buf[4096];
    int p[2];
    pipe(p);

    /* paths */
    T("open(bad)", SYS_open, bad, O_RDONLY);
    T("openat(bad)", SYS_openat, AT_FDCWD, bad, O_RDONLY);
    T("creat(bad)", SYS_creat, bad, 0644);
    T("access(bad)", SYS_access, bad, F_OK);
    T("faccessat(bad)", SYS_faccessat, AT_FDCWD, bad, F_OK);
    T("faccessat2(bad)", SYS_faccessat2, AT_FDCWD, bad, F_OK, 0);
    T("chdir(bad)", SYS_chdir, bad);
    T("chroot(bad)", SYS_chroot, bad);
    T("mkdir(bad)", SYS_mkdir, bad, 0755);
    T("mkdirat(bad)", SYS_mkdirat, AT_FDCWD, bad, 0755);
    T("rmdir(bad)", SYS_rmdir, bad);
    T("unlink(bad)", SYS_unlink, bad);
    T("unlinkat(bad)", SYS_unlinkat, AT_FDCWD, bad, 0);
    T("rename(bad, new)", SYS_rename, bad, "new");
    T("rename(file, bad)", SYS_rename, "file", bad);
    T("renameat(bad, new)", SYS_renameat, AT_FDCWD, bad, AT_FDCWD, "new");
    T("renameat2(file, bad)", SYS_renameat2, AT_FDCWD, "file", AT_FDCWD, bad, 0);
    T("link(bad, new)", SYS_link, bad, "new");
    T("link(file, bad)", SYS_link, "file", bad);
    T("linkat(file, bad)", SYS_linkat, AT_FDCWD, "file", AT_FDCWD, bad, 0);
    T("symlink(bad, new)", SYS_symlink, bad, "new");
    T("symlink(file, bad)", SYS_symlink, "file", bad);
    T("symlinkat(file, bad)", SYS_symlinkat, "file", AT_FDCWD, bad);
    T("readlink(bad)", SYS_readlink, bad, buf, sizeof buf);
    T("readlinkat(bad)", SYS_readlinkat, AT_FDCWD, bad, buf, sizeof buf);
    T("name_to_handle_at(bad)", SYS_name_to_handle_at, AT_FDCWD, bad, buf, buf, 0);
    ((unsigned *)buf)[0] = 64;
    T("name_to_handle_at(file, bad handle)", SYS_name_to_handle_at, AT_FDCWD, "file", bad, buf, 0);
    T("name_to_handle_at(file, bad mount id)", SYS_name_to_handle_at, AT_FDCWD, "file", buf, bad,
      0);
    T("chmod(bad)", SYS_chmod, bad, 0644);
    T("fchmodat(bad)", SYS_fchmodat, AT_FDCWD, bad, 0644);
    T("chown(bad)", SYS_chown, bad, -1, -1);
    T("lchown(bad)", SYS_lchown, bad, -1, -1);
    T("fchownat(bad)", SYS_fchownat, AT_FDCWD, bad, -1, -1, 0);
    T("truncate(bad)", SYS_truncate, bad, 0);
    T("mknod(bad)", SYS_mknod, bad, S_IFIFO | 0644, 0);
    T("mknodat(bad)", SYS_mknodat, AT_FDCWD, bad, S_IFIFO | 0644, 0);
    T("stat(bad)", SYS_stat, bad, buf);
    T("lstat(bad)", SYS_lstat, bad, buf);
    T("newfstatat(bad)", SYS_newfstatat, AT_FDCWD, bad, buf, 0);
    T("statx(bad)", SYS_statx, AT_FDCWD, bad, 0, 0xfff, buf);
    T("statfs(bad)", SYS_statfs, bad, buf);
    T("utime(bad)", SYS_utime, bad, 0);
    T("utimes(bad)", SYS_utimes, bad, 0);
    T("futimesat(bad)", SYS_futimesat, AT_FDCWD, bad, 0);
    T("utimensat(bad)", SYS_utimensat, AT_FDCWD, bad, 0, 0);
    T("execve(bad)", SYS_execve, bad, 0, 0);
    T("execveat(bad)", SYS_execveat, AT_FDCWD, bad, 0, 0, 0);
    T("getxattr(bad)", SYS_getxattr, bad, "user.x", buf, 64);
    T("lgetxattr(bad)", SYS_lgetxattr, bad, "user.x", buf, 64);
    T("setxattr(bad)", SYS_setxattr, bad, "user.x", "v", 1, 0);
    T("lsetxattr(bad)", SYS_lsetxattr, bad, "user.x", "v", 1, 0);
    T("listxattr(bad)", SYS_listxattr, bad, buf, 64);
    T("llistxattr(bad)", SYS_llistxattr, bad, buf, 64);
    T("removexattr(bad)", SYS_removexattr, bad, "user.x");
    T("lremovexattr(bad)", SYS_lremovexattr, bad, "user.x");
    T("memfd_create(bad)", SYS_memfd_create, bad, 0);
    T("mount(target bad)", SYS_mount, "none", bad, "tmpfs", 0, 0);
    T("umount2(bad)", SYS_umount2, bad, 0);
    int in = inotify_init1(IN_CLOEXEC);
    T("inotify_add_watch(bad)", SYS_inotify_add_watch, in, bad, IN_MODIFY);

    /* names and values beside a good path */
    T("getxattr(file, bad name)", SYS_getxattr, "file", bad, buf, 64);
    T("setxattr(file, bad name)", SYS_setxattr, "file", bad, "v", 1, 0);
    T("fsetxattr(fd, bad name)", SYS_fsetxattr, fd, bad, "v", 1, 0);
    T("fgetxattr(fd, bad name)", SYS_fgetxattr, fd, bad, buf, 64);
    T("removexattr(file, bad name)", SYS_removexattr, "file", bad);
    T("fremovexattr(fd, bad name)", SYS_fremovexattr, fd, bad);
    T("flistxattr(fd, bad)", SYS_flistxattr, fd, bad, 64);

    /* buffers the kernel fills */
    T("stat(., bad)", SYS_stat, ".", bad);
    T("stat(/, bad)", SYS_stat, "/", bad);
    T("stat(/proc/self, bad)", SYS_stat, "/proc/self", bad);
    T("lstat(file, bad)", SYS_lstat, "file", bad);
    T("fstat(fd, bad)", SYS_fstat, fd, bad);
    T("fstat(rootfd, bad)", SYS_fstat, rootfd, bad);
    T("newfstatat(/, bad)", SYS_newfstatat, AT_FDCWD, "/", bad, 0);
    T("statx(/, bad)", SYS_statx, AT_FDCWD, "/", 0, 0xfff, bad);
    T("statfs(/, bad)", SYS_statfs, "/", bad);
    T("fstatfs(rootfd, bad)", SYS_fstatfs, rootfd, bad);
    T("readlink(/proc/self/exe, bad)", SYS_readlink, "/proc/self/exe", bad, 64);
    T("getcwd(bad)", SYS_getcwd, bad, 4096);
    T("uname(bad)", SYS_uname, bad);
    T("getdents64(/, bad)", SYS_getdents64, rootfd, bad, 4096);
    T("getdents(/, bad)", SYS_getdents, rootfd, bad, 4096);
    T("getrlimit(bad)", SYS_getrlimit, RLIMIT_NOFILE, bad);
    T("prlimit64(old bad)", SYS_prlimit64, 0, RLIMIT_NOFILE, 0, bad);
    T("arch_prctl(ARCH_GET_FS, bad)", SYS_arch_prctl, ARCH_GET_FS, bad);
    T("read(fd, bad)", SYS_read, fd, bad, 16);
    T("pread64(fd, bad)", SYS_pread64, fd, bad, 16, 0);
    T("readv(fd, bad)", SYS_readv, fd, bad, 1);
    T("preadv(fd, bad)", SYS_preadv, fd, bad, 1, 0, 0);
    T("preadv2(fd, bad)", SYS_preadv2, fd, bad, 1, 0, 0, 0);
    /* The program's own file: in a packed image, a window of the image
     * that the kernel reads itself. */
    int exe = open("/proc/self/exe", O_RDONLY);
    T("readv(exe, bad)", SYS_readv, exe, bad, 1);
    T("preadv(exe, bad)", SYS_preadv, exe, bad, 1, 0, 0);
    T("sendfile(exe, bad offset)", SYS_sendfile, p[1], exe, bad, 1);
    T("copy_file_range(exe, bad offset)", SYS_copy_file_range, exe, bad, fd, 0, 1, 0);
    T("rt_sigaction(old bad)", SYS_rt_sigaction, SIGUSR1, 0, bad, 8);
    T("rt_sigaction(old read-only)", SYS_rt_sigaction, SIGUSR1, 0, ro, 8);
    T("rt_sigprocmask(old bad)", SYS_rt_sigprocmask, SIG_BLOCK, 0, bad, 8);
    T("sigaltstack(old bad)", SYS_sigaltstack, 0, bad);

    /* structures the kernel reads */
    T("rt_sigaction(new bad)", SYS_rt_sigaction, SIGUSR1, bad, 0, 8);
    T("rt_sigprocmask(new bad)", SYS_rt_sigprocmask, SIG_BLOCK, bad, 0, 8);
    T("sigaltstack(new bad)", SYS_sigaltstack, bad, 0);
    T("setrlimit(bad)", SYS_setrlimit, RLIMIT_NOFILE, bad);
    T("prlimit64(new bad)", SYS_prlimit64, 0, RLIMIT_NOFILE, bad, 0);
    T("utimes(file, bad)", SYS_utimes, "file", bad);
    T("utime(file, bad)", SYS_utime, "file", bad);
    T("futimesat(file, bad)", SYS_futimesat, AT_FDCWD, "file", bad);
    T("utimensat(file, bad)", SYS_utimensat, AT_FDCWD, "file", bad, 0);
    char *argv_ok[] = {"x", 0};
    T("execve(file, bad argv)", SYS_execve, "/proc/self/exe", bad, 0);
    T("execve(file, argv, bad envp)", SYS_execve, "/proc/self/exe", argv_ok, bad);
    char *argv_bad[] = {"x", bad, 0};
    T("execve(file, bad argv[1])", SYS_execve, "/proc/self/exe", argv_bad, 0);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    T("bind(bad)", SYS_bind, s, bad, 16);
    T("connect(bad)", SYS_connect, s, bad, 16);
    int sp[2], len16 = 16;
    socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
    T("getsockname(bad)", SYS_getsockname, sp[0], bad, &len16);
    T("getsockname(len bad)", SYS_getsockname, sp[0], &len16, bad);
    T("getpeername(bad)", SYS_getpeername, sp[0], bad, &len16);
    T("getpeername(len bad)", SYS_getpeername, sp[0], &len16, bad);
    T("getpeername(unconnected, len bad)", SYS_getpeername, s, &len16, bad);
    struct iovec one = {"x", 1};
    struct msghdr badctl = {.msg_iov = &one, .msg_iovlen = 1, .msg_control = bad,
                            .msg_controllen = 64};
    struct mmsghdr mbadctl = {.msg_hdr = badctl};
    T("sendmsg(bad)", SYS_sendmsg, sp[0], bad, 0);
    T("sendmsg(bad control)", SYS_sendmsg, sp[0], &badctl, 0);
    T("sendmmsg(bad)", SYS_sendmmsg, sp[0], bad, 1, 0);
    T("sendmmsg(bad control)", SYS_sendmmsg, sp[0], &mbadctl, 1, 0);
    /* a byte without control data: none written to a bad control buffer */
    T("recvmsg(bad)", SYS_recvmsg, sp[1], bad, MSG_DONTWAIT);
    T("write(x)", SYS_write, sp[0], "x", 1);
    struct msghdr rbadctl = badctl;
    rbadctl.msg_iov = &(struct iovec){buf, 1};
    T("recvmsg(bad control)", SYS_recvmsg, sp[1], &rbadctl, MSG_DONTWAIT);
    T("recvmmsg(bad)", SYS_recvmmsg, sp[1], bad, 1, MSG_DONTWAIT, 0);
    T("write(x)", SYS_write, sp[0], "x", 1);
    struct mmsghdr rmbadctl = {.msg_hdr = rbadctl};
    T("recvmmsg(bad control)", SYS_recvmmsg, sp[1], &rmbadctl, 1, MSG_DONTWAIT, 0);
    /* waits under a mask of their own: a bad mask, or a bad wait beside a
     * mask the kernel copies (one that blocks SIGSYS) */
    struct timespec zero = {0, 0};
    sigset_t full;
    sigfillset(&full);
    struct { void *mask; size_t size; } badmask = {bad, 8}, fullmask = {&full, 8};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    T("rt_sigsuspend(bad)", SYS_rt_sigsuspend, bad, 8);
    T("ppoll(bad mask)", SYS_ppoll, 0, 0, &zero, bad, 8);
    T("ppoll(bad fds, full mask)", SYS_ppoll, bad, 1, &zero, &full, 8);
    T("pselect6(bad sig)", SYS_pselect6, 0, 0, 0, 0, &zero, bad);
    T("pselect6(bad mask)", SYS_pselect6, 0, 0, 0, 0, &zero, &badmask);
    T("pselect6(bad timeout, full mask)", SYS_pselect6, 0, 0, 0, 0, bad, &fullmask);
    T("epoll_pwait(bad mask)", SYS_epoll_pwait, ep, buf, 1, 0, bad, 8L);
    T("epoll_pwait(bad events, full mask)", SYS_epoll_pwait, ep, bad, 1, 0, &full, 8L);
    T("epoll_pwait2(bad mask)", SYS_epoll_pwait2, ep, buf, 1, &zero, bad, 8L);
    T("epoll_pwait2(bad timeout, full mask)", SYS_epoll_pwait2, ep, buf, 1, bad, &full, 8L);
    T("sendfile(bad offset)", SYS_sendfile, p[1], fd, bad, 1);
    T("splice(bad offset)", SYS_splice, fd, bad, p[1], 0, 1, 0);
    T("copy_file_range(bad offset)", SYS_copy_file_range, fd, bad, fd, 0, 1, 0);
    T("clone3(bad)", SYS_clone3, bad, 88);
    int self = open("/proc/self", O_RDONLY | O_DIRECTORY);
    T("pidfd_send_signal(/proc/self, bad info)", SYS_pidfd_send_signal, self, SIGUSR1, bad, 0);

    edge_paths(dfd);

    /* still here, and the process state intact */
    sigset_t now;
    sigprocmask(SIG_BLOCK, 0, &now);
    printf("SIGUSR1 blocked: %d\n", sigismember(&now, SIGUSR1));
    close(dfd);
    return 0;
}
