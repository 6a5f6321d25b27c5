#define _GNU_SOURCE
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

/* System V shared memory and a semaphore across fork, a message queue, a
 * POSIX message queue, and sendmmsg/recvmmsg: IPC of the guest's own. */
int main(void) {
    int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    int *counter = shmat(shm, NULL, 0);
    int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    semctl(sem, 0, SETVAL, 0);
    *counter = 0;
    pid_t child = fork();
    if (child == 0) {
        *counter = 42;
        struct sembuf up = {0, 1, 0};
        semop(sem, &up, 1);
        _exit(0);
    }
    struct sembuf down = {0, -1, 0};
    semop(sem, &down, 1);
    printf("shm+sem across fork: %d\n", *counter);
    waitpid(child, NULL, 0);
    shmdt(counter);
    shmctl(shm, IPC_RMID, NULL);
    semctl(sem, 0, IPC_RMID);

    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    struct { long type; char text[16]; } m = {7, "hello sysv"}, r;
    msgsnd(q, &m, sizeof m.text, 0);
    ssize_t n = msgrcv(q, &r, sizeof r.text, 0, 0);
    printf("msg: %zd type %ld %s\n", n, r.type, r.text);
    msgctl(q, IPC_RMID, NULL);

    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 32};
    mqd_t mq = mq_open("/libsubst-test", O_CREAT | O_RDWR, 0600, &attr);
    mq_send(mq, "hello posix", 12, 3);
    char buf[32];
    unsigned prio;
    n = mq_receive(mq, buf, sizeof buf, &prio);
    printf("mq: %zd prio %u %s\n", n, prio, buf);
    mq_close(mq);
    mq_unlink("/libsubst-test");

    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct iovec iov[2] = {{"one", 3}, {"two!", 4}};
    struct mmsghdr out[2] = {{.msg_hdr = {.msg_iov = &iov[0], .msg_iovlen = 1}},
                             {.msg_hdr = {.msg_iov = &iov[1], .msg_iovlen = 1}}};
    int sent = sendmmsg(sv[0], out, 2, 0);
    char b1[8] = {0}, b2[8] = {0};
    struct iovec riov[2] = {{b1, 8}, {b2, 8}};
    struct mmsghdr in[2] = {{.msg_hdr = {.msg_iov = &riov[0], .msg_iovlen = 1}},
                            {.msg_hdr = {.msg_iov = &riov[1], .msg_iovlen = 1}}};
    int got = recvmmsg(sv[1], in, 2, MSG_DONTWAIT, NULL);
    printf("mmsg: sent %d got %d %s %s\n", sent, got, b1, b2);
    return 0;
}
