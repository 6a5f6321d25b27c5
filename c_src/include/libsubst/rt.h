/*
 * The freestanding runtime (c_src/lib/) that the tender and the guest
 * kernel both link: one executable, no host libc.  Host calls, string and
 * memory routines, a printf subset, descriptors over a Unix socket.  None
 * of it keeps state, so neither side reaches the other's through it.
 */
#ifndef LIBSUBST_RT_H
#define LIBSUBST_RT_H

#include <stddef.h>
#include <stdarg.h>
#include <asm/unistd.h>
#include <linux/errno.h>

#include "libsubst/hostcall.h"

/* The compiler also emits calls to memcpy/memset/memmove/memcmp by itself. */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t n);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
/* Copies at most n-1 bytes and NUL-terminates; returns strlen(src). */
size_t strlcpy(char *d, const char *s, size_t n);

/* printf subset: %s %c %d %i %u %x %lx %ld %lu %lld %llx %zu %zd %p %o %%,
 * with '-', '0', width and '.precision' for %s.  Returns the length it
 * would have written (snprintf semantics). */
int kvsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* v's digits in base (2 to 16) and a NUL at b, which holds KFMT_ULONG_MAX
 * bytes; returns the digits' count.  The printf subset's own formatter. */
#define KFMT_ULONG_MAX 66
size_t kfmt_ulong(char *b, unsigned long v, int base);
/* Formatted write of the whole string to a host fd. */
int kdprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes all of buf to host fd, retrying short writes and EINTR. */
long kwrite_all(int fd, const void *buf, size_t n);
/* "libsubst-kernel: " what fmt, and a newline, to host fd: the one form of
 * every diagnostic the executable prints. */
void kdiag(int fd, const char *what, const char *fmt, va_list ap);

/* ---- the host's sysfs trees the guest sees (hosttrees.c) ---- */
/* fn(path, arg) for each (handover.h's LS_HOST_TREES, LS_HOST_LINK_DIRS
 * and the directories their links lead to); stops at fn's first negative
 * answer (-1).  0 otherwise. */
int ls_for_each_host_tree(int (*fn)(const char *path, void *arg), void *arg);

/* ---- descriptors over a Unix socket (fdpass.c) ---- */
#define LS_FDPASS_MAX 64
/* sendmsg of len bytes and nfds fds (SCM_RIGHTS); never a SIGPIPE. */
long fd_send(int sock, const void *data, size_t len, const int *fds, int nfds);
/* recvmsg of up to len bytes, the fds into fds (room: *nfds, then how many
 * came; close-on-exec); the bytes received, 0 at end of file, or -errno. */
long fd_recv(int sock, void *data, size_t len, int *fds, int *nfds);

#endif
