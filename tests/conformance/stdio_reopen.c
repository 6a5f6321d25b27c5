/*
 * The caller's stdout reopened by name (/dev/stdout, /proc/self/fd/1,
 * /dev/fd/1), as loggers configured to log there do (postfix's postlogd
 * with maillog_file = /dev/stdout, a server's error log): appended to, and
 * truncated, between writes through fd 1.  Run with stdout a pipe (the
 * harness's) and a file opened for appending (`>> log`) outside every path
 * the guest may open by name (test_conformance.py); what was opened goes to
 * stderr, what was written ends in the file or the pipe.  A reopen for
 * reading or without O_APPEND is not tried: the guest gets the fd's own
 * access and shares its offset and flags (synth_node.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void through(const char *name, int flags, const char *text)
{
    int fd = open(name, flags, 0644);
    if (fd < 0) {
        fprintf(stderr, "open %s %#o: %s\n", name, flags, strerrorname_np(errno));
        return;
    }
    fprintf(stderr, "open %s %#o: ok\n", name, flags);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        fprintf(stderr, "write %s: %s\n", name, strerrorname_np(errno));
    close(fd);
}

int main(void)
{
    int fl = fcntl(1, F_GETFL);
    fprintf(stderr, "stdout append: %s\n", fl & O_APPEND ? "yes" : "no");
    write(1, "first\n", 6);
    through("/dev/stdout", O_WRONLY | O_APPEND, "through /dev/stdout\n");
    write(1, "second\n", 7);
    through("/proc/self/fd/1", O_WRONLY | O_APPEND | O_CLOEXEC, "through /proc/self/fd/1\n");
    through("/dev/fd/1", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, "truncated\n");
    write(1, "third\n", 6);
    fl = fcntl(1, F_GETFL);
    fprintf(stderr, "stdout still append: %s\n", fl & O_APPEND ? "yes" : "no");
    return 0;
}
