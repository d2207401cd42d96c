/* The kernel's floor for a proxy that sleeps between datagrams: a relay thread blocked in
 * recv, woken by each datagram, that sends it on (what a SIP proxy does per message at a
 * modest rate, where no second datagram is queued when it looks). A sender thread paces
 * datagrams at RATE a second to the relay; a sink socket drains what the relay sends. Only the
 * relay thread's CPU (user + system, RUSAGE_THREAD) is counted, per datagram relayed: one
 * wake-up, one recv and one sendto, the same as a proxy's share of one message in, one out.
 * scripts/bench-compare.sh runs it at each rate's datagram rate (7 in and 7 out per call)
 * and multiplies by 7 (a relayed datagram is one received and one sent).
 * Usage: relay-floor [RATE] [SECONDS] [BYTES]   (default 2800 datagrams/s, 3 s, 700 bytes)
 * Prints: ns_per_relay=N */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "floor.h"

static long rate = 2800, seconds = 3;
static size_t bytes = 700;
static struct sockaddr_in relay_addr, sink_addr;
static int relay_fd, sink_fd;
static volatile long relayed;
static double relay_cpu;

/* Relays until it gets a 1-byte datagram, the sender's "done". */
static void *relay(void *unused) {
    char *buf = calloc(1, bytes + 1);
    double start = cpu_seconds_of(RUSAGE_THREAD);
    long n = 0;
    (void)unused;
    for (;;) {
        ssize_t len = recv(relay_fd, buf, bytes + 1, 0);
        if (len == 1) break;
        if (len > 0) {
            sendto(relay_fd, buf, (size_t)len, 0, (struct sockaddr *)&sink_addr, sizeof sink_addr);
            n++;
        }
    }
    relay_cpu = cpu_seconds_of(RUSAGE_THREAD) - start;
    relayed = n;
    return NULL;
}

/* Drains the relay's datagrams so that its sends never fail. */
static void *sink(void *unused) {
    char buf[2048];
    (void)unused;
    for (;;) {
        if (recv(sink_fd, buf, sizeof buf, 0) == 1) break;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) rate = atol(argv[1]);
    if (argc > 2) seconds = atol(argv[2]);
    if (argc > 3) bytes = (size_t)atol(argv[3]);
    struct sockaddr_in from_addr;
    int from = bound_socket(&from_addr);
    relay_fd = bound_socket(&relay_addr);
    sink_fd = bound_socket(&sink_addr);
    pthread_t r, s;
    pthread_create(&s, NULL, sink, NULL);
    pthread_create(&r, NULL, relay, NULL);
    char *buf = calloc(1, bytes);
    long total = rate * seconds, gap_ns = 1000000000L / rate;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (long i = 0; i < total; i++) {
        next.tv_nsec += gap_ns;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        sendto(from, buf, bytes, 0, (struct sockaddr *)&relay_addr, sizeof relay_addr);
    }
    sendto(from, buf, 1, 0, (struct sockaddr *)&relay_addr, sizeof relay_addr);
    pthread_join(r, NULL);
    sendto(from, buf, 1, 0, (struct sockaddr *)&sink_addr, sizeof sink_addr);
    pthread_join(s, NULL);
    if (relayed == 0) {
        fprintf(stderr, "relay-floor: nothing relayed\n");
        return 1;
    }
    printf("ns_per_relay=%.0f\n", relay_cpu * 1e9 / relayed);
    return 0;
}
