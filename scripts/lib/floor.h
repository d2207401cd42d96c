/* What the floor programs (loopback-floor.c, relay-floor.c) share: a UDP socket bound to an
 * ephemeral loopback port, and CPU time read from getrusage. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* User + system CPU seconds of `who` (RUSAGE_SELF, or RUSAGE_THREAD with _GNU_SOURCE). */
static double cpu_seconds_of(int who) {
    struct rusage u;
    getrusage(who, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

/* A UDP socket on 127.0.0.1 at a port the kernel picks; its address goes into `addr`. */
static int bound_socket(struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t len = sizeof *addr;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof *addr) < 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
        perror("floor: socket");
        exit(1);
    }
    return fd;
}
