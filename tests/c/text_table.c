/* A table of data in .text, as OpenSSL's assembly keeps P-256's precomputed
 * multiples there: bytes that decode as `mov $39,%eax; syscall` but are
 * never run.  No FDE and no sized function symbol covers them, so the
 * rewriter must leave them as they are; the program prints their checksum
 * and makes one real syscall of its own (a site in known code) to show the
 * rewriter did run on it. */
#include <stdio.h>
#include <unistd.h>

__asm__(".text\n"
        ".p2align 6\n"
        ".globl text_table\n"
        "text_table:\n"
        ".byte 0x48,0x89,0xc7,0x48,0x89,0xf2,0xb8,0x27,0x00,0x00,0x00,0x0f,0x05,0x48,0x89,0xc3\n"
        ".byte 0x48,0x89,0xd8,0x48,0x83,0xc4,0x08,0x0f,0x05,0x90,0x90,0x90,0x90,0x90,0x90,0x90\n"
        ".p2align 6\n");

extern const unsigned char text_table[32];

static long own_getppid(void)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(110) : "rcx", "r11", "memory");
    return r;
}

int main(void)
{
    unsigned h = 0;
    for (int i = 0; i < 32; i++)
        h = h * 31 + text_table[i];
    printf("table %08x, getppid %s\n", h, own_getppid() >= 0 ? "answered" : "failed");
    return 0;
}
