/*
 * recv_race N: N times asks the peer at fd 3 (a stream socket) for a
 * message and recvmsg's it (it brings a directory's fd by SCM_RIGHTS,
 * which a guest refuses: tests/test_exec_state.py), while another thread
 * dup()s the fd number the message's fd will get, as fast as it can,
 * keeping each copy that is a directory.  Prints the messages received,
 * the directories given, and how many copies the other thread made that
 * are still open directories at the end: natively all of them; in a
 * guest none (the refusal closes every copy made before it).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXKEPT 64

static volatile int target = -1, stop;
static int kept[MAXKEPT], nkept;

static int is_dir(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

static void *thief(void *arg)
{
    (void)arg;
    while (!stop) {
        int t = target;
        if (t < 0)
            continue;
        int d = dup(t);
        if (d < 0)
            continue;
        int k = 0;
        while (k < nkept && kept[k] != d)
            k++;
        if (k == nkept && nkept < MAXKEPT && is_dir(d))
            kept[nkept++] = d;
        else if (k == nkept)
            close(d);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = atoi(argv[1]), got = 0, given = 0;
    pthread_t th;
    pthread_create(&th, 0, thief, 0);
    for (int i = 0; i < n; i++) {
        int probe = dup(0);             /* the lowest free number: where the fd comes */
        close(probe);
        target = probe;
        char b, ctl[256];
        struct iovec io = {&b, 1};
        struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl,
                           .msg_controllen = sizeof ctl};
        if (write(3, "r", 1) != 1 || recvmsg(3, &m, 0) != 1)
            break;
        got++;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (c && c->cmsg_type == SCM_RIGHTS && c->cmsg_len > CMSG_LEN(0)) {
            int fd;
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
            given += is_dir(fd);
            close(fd);
        }
        for (volatile int k = 0; k < 2000; k++)
            ;
        target = -1;
    }
    stop = 1;
    pthread_join(th, 0);
    int open = 0;
    for (int k = 0; k < nkept; k++)
        open += is_dir(kept[k]);
    printf("messages %d\ndirectories given %d\ndirectory copies still open %d\n", got, given, open);
    return 0;
}
