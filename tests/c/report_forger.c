/* A hostile guest for the report channel (c_src/include/libsubst/report.h):
 * it finds the kernel's `syscall; ret` (Syscall User Dispatch lets kernel
 * text through), finds the channel among the host fds the kernel hides (a
 * write-only pipe above stdio), and writes to it directly.
 *
 *   report_forger forge PATH...   a forged crash whose objects name PATH...
 *   report_forger flood MIB       MIB MiB of records, half in one endless line
 *
 * It prints how many channels it found and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *find_gadget(void)
{
    unsigned char *entry;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(entry));
    unsigned char *page = (unsigned char *)((unsigned long)entry & ~4095UL);
    for (long off = 0; off < 65536; off += 4096) {
        unsigned char vec;
        long r;
        __asm__ volatile("syscall" : "=a"(r) : "a"(27 /* mincore */), "D"(page + off), "S"(4096),
                         "d"(&vec) : "rcx", "r11", "memory");
        if (r != 0)
            break;
        for (int i = 0; i < 4094; i++)
            if (page[off + i] == 0x0f && page[off + i + 1] == 0x05 && page[off + i + 2] == 0xc3)
                return page + off + i;
    }
    return 0;
}

static unsigned char *gadget;

static long host(long nr, long a, long b, long c)
{
    long r;
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\tcall *%[g]\n\tlea 128(%%rsp), %%rsp"
                     : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c), [g] "r"(gadget)
                     : "rcx", "r11", "memory");
    return r;
}

static void put(int fd, const char *s, long n)
{
    while (n > 0) {
        long w = host(1 /* write */, fd, (long)s, n);
        if (w <= 0)
            return;
        s += w;
        n -= w;
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || !(gadget = find_gadget()))
        return 2;
    int fds[8], n = 0;
    for (long fd = 1 << 20; fd >= 3 && n < 8; fd--) {
        struct { unsigned long dev, ino, nlink; unsigned mode; char rest[124]; } st;
        if (host(72 /* fcntl */, fd, 3 /* F_GETFL */, 0) == 1 /* O_WRONLY */ &&
            host(5 /* fstat */, fd, (long)&st, 0) == 0 && (st.mode & 0170000) == 0010000)
            fds[n++] = fd;
    }
    static char buf[1 << 16];
    for (int i = 0; i < n; i++) {
        if (!strcmp(argv[1], "forge")) {
            int len = snprintf(buf, sizeof buf, "crash 11 1 0x10\nframe 0x1008\nframe 0x2008\n");
            for (int a = 2; a < argc; a++)
                len += snprintf(buf + len, sizeof buf - len, "object 0x%x 0x%x %s\n",
                                (a - 2) * 0x1000, (a - 1) * 0x1000, argv[a]);
            len += snprintf(buf + len, sizeof buf - len, "object 0x0 0x3000 123456789\n");
            put(fds[i], buf, len);
        } else {
            long mib = atol(argv[2]);
            memset(buf, 'x', sizeof buf);       /* one line without end */
            for (long k = 0; k < mib * 8; k++)
                put(fds[i], buf, sizeof buf);
            put(fds[i], "\n", 1);
            for (unsigned j = 0; j + 16 <= sizeof buf; j += 16)
                memcpy(buf + j, "enosys x 9 999\n\n", 16);
            for (long k = 0; k < mib * 8; k++)
                put(fds[i], buf, sizeof buf);
        }
    }
    printf("%d\n", n);
    return 0;
}
