/* inotify on a file and a directory of the working directory (a volume):
 * the events its own writes make, in order. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(void) {
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    int fd = open("watched.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    int wf = inotify_add_watch(in, "watched.txt", IN_MODIFY | IN_CLOSE_WRITE);
    int wd = inotify_add_watch(in, ".", IN_CREATE | IN_DELETE);
    printf("watches %s %s\n", wf > 0 ? "ok" : "failed", wd > 0 && wd != wf ? "ok" : "failed");
    write(fd, "x", 1);
    close(fd);
    close(open("made.txt", O_CREAT | O_WRONLY, 0644));
    unlink("made.txt");
    char buf[4096] __attribute__((aligned(8)));
    ssize_t n = read(in, buf, sizeof buf);
    for (char *p = buf; n > 0 && p < buf + n;) {
        struct inotify_event *e = (struct inotify_event *)p;
        printf("%s %s%s%s%s %s\n", e->wd == wf ? "file" : e->wd == wd ? "dir" : "?",
               e->mask & IN_MODIFY ? "MODIFY" : "", e->mask & IN_CLOSE_WRITE ? "CLOSE_WRITE" : "",
               e->mask & IN_CREATE ? "CREATE" : "", e->mask & IN_DELETE ? "DELETE" : "",
               e->len ? e->name : "-");
        p += sizeof *e + e->len;
    }
    printf("missing: %d\n", inotify_add_watch(in, "nope", IN_MODIFY) < 0);
    printf("removed: %d\n", inotify_rm_watch(in, wf));
    return 0;
}
