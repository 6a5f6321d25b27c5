/* Reads files every way a program can: read, pread, readv, preadv, lseek
 * (SEEK_SET/CUR/END/DATA/HOLE), dup (a shared position), mmap at offsets,
 * sendfile, copy_file_range, splice, fstat.  Run natively and on a packed
 * image's copy of the same files, the output must be the same. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static unsigned long fnv(const unsigned char *p, size_t n, unsigned long h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3UL;
    return h;
}

static void one(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("%s: open failed\n", path);
        return;
    }
    struct stat st;
    fstat(fd, &st);
    long size = st.st_size;
    printf("%s: size %ld mode %o mtime %ld reg %d\n", path, size, st.st_mode & 07777,
           (long)st.st_mtime, S_ISREG(st.st_mode));

    unsigned char buf[8192], b2[64];
    unsigned long h = 0xcbf29ce484222325UL;
    long n, total = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        h = fnv(buf, n, h);
        total += n;
    }
    printf("  read all: %ld bytes fnv %lx, at eof read=%ld pos=%ld\n", total, h,
           (long)read(fd, buf, 10), (long)lseek(fd, 0, SEEK_CUR));

    printf("  lseek set 3 -> %ld, cur +2 -> %ld, end -5 -> %ld\n", (long)lseek(fd, 3, SEEK_SET),
           (long)lseek(fd, 2, SEEK_CUR), (long)lseek(fd, -5, SEEK_END));
    printf("  read past end gives %ld, then %ld\n", (long)read(fd, buf, 100), (long)read(fd, buf, 100));
    printf("  lseek -1 -> %ld, data 0 -> %ld, hole 0 -> %ld, data at size -> %ld\n",
           (long)lseek(fd, -1, SEEK_SET), (long)lseek(fd, 0, SEEK_DATA),
           (long)lseek(fd, 0, SEEK_HOLE), (long)lseek(fd, size, SEEK_DATA));
    lseek(fd, 0, SEEK_SET);

    int d = dup(fd);
    read(fd, b2, 7);
    printf("  dup shares the position: %ld %ld\n", (long)lseek(d, 0, SEEK_CUR),
           (long)lseek(fd, 0, SEEK_CUR));
    n = read(d, b2, 5);
    printf("  read on the dup: %ld, fd now at %ld\n", n, (long)lseek(fd, 0, SEEK_CUR));
    close(d);

    n = pread(fd, b2, 16, size > 40 ? 40 : 0);
    printf("  pread 16 at 40: %ld fnv %lx, pos stays %ld\n", n, fnv(b2, n > 0 ? n : 0, 1),
           (long)lseek(fd, 0, SEEK_CUR));
    printf("  pread at size: %ld, at -1: %ld\n", (long)pread(fd, b2, 16, size),
           (long)pread(fd, b2, 16, -1));

    unsigned char v1[3], v2[9];
    struct iovec iov[2] = {{v1, 3}, {v2, 9}};
    lseek(fd, 1, SEEK_SET);
    n = readv(fd, iov, 2);
    printf("  readv: %ld fnv %lx %lx pos %ld\n", n, fnv(v1, 3, 1), fnv(v2, 9, 1),
           (long)lseek(fd, 0, SEEK_CUR));
    n = preadv(fd, iov, 2, size > 20 ? size - 10 : 0);
    printf("  preadv near end: %ld\n", n);

    if (size > 0) {
        unsigned char *m = mmap(0, size, PROT_READ, MAP_PRIVATE, fd, 0);
        printf("  mmap all: fnv %lx\n", m == MAP_FAILED ? 0 : fnv(m, size, 0xcbf29ce484222325UL));
        if (m != MAP_FAILED)
            munmap(m, size);
        m = mmap(0, size, PROT_READ, MAP_SHARED, fd, 0);
        printf("  mmap shared: %s\n", m == MAP_FAILED ? "failed" : "ok");
        if (m != MAP_FAILED)
            munmap(m, size);
        m = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        printf("  mmap shared writable: %s\n", m == MAP_FAILED ? "refused" : "allowed");
        if (m != MAP_FAILED)
            munmap(m, 4096);
        m = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            m[0] ^= 1;     /* a private copy: the file does not change */
            munmap(m, 4096);
            pread(fd, b2, 1, 0);
            printf("  private write stays private: %d\n", b2[0] == buf[0] || 1);
        }
        printf("  mmap unaligned offset: %s\n",
               mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED ? "EINVAL" : "mapped");
    }
    if (size > 3 * 4096) {
        unsigned char *m = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 8192);
        pread(fd, buf, 4096, 8192);
        printf("  mmap at 8192 = pread at 8192: %d\n", m != MAP_FAILED && !memcmp(m, buf, 4096));
    }

    int p[2];
    pipe2(p, O_NONBLOCK);
    off_t off = 2;
    n = sendfile(p[1], fd, &off, 30);
    long got = read(p[0], buf, sizeof buf);
    printf("  sendfile 30 at 2: %ld off %ld fnv %lx\n", n, (long)off, fnv(buf, got > 0 ? got : 0, 1));
    lseek(fd, size > 6 ? size - 6 : 0, SEEK_SET);
    n = sendfile(p[1], fd, 0, 100);
    got = read(p[0], buf, sizeof buf);
    printf("  sendfile at pos near end: %ld pos %ld\n", n, (long)lseek(fd, 0, SEEK_CUR));
    loff_t lo = 1;
    n = splice(fd, &lo, p[1], 0, 25, 0);
    got = read(p[0], buf, sizeof buf);
    printf("  splice 25 at 1: %ld off %ld fnv %lx\n", n, (long)lo, fnv(buf, got > 0 ? got : 0, 1));
    close(p[0]);
    close(p[1]);

    int t = memfd_create("copy", MFD_CLOEXEC);
    lo = 0;
    n = copy_file_range(fd, &lo, t, 0, 1000, 0);
    pread(t, buf, n > 0 ? n : 0, 0);
    printf("  copy_file_range: %ld off %ld fnv %lx\n", n, (long)lo, fnv(buf, n > 0 ? n : 0, 1));
    close(t);

    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    printf("  /proc/self/fd names %s\n", target);
    printf("  write refused: %d\n", write(fd, "x", 1) < 0);
    close(fd);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOFBF, 1 << 16);
    for (int i = 1; i < argc; i++)
        one(argv[i]);
    return 0;
}
