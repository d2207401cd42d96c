/* The kernel's floor for a SIP call through a UDP proxy on loopback: the CPU time of one
 * sendto on one socket and the recv of that datagram on another, the least a middle box
 * pays per datagram it receives or sends (a sendto on loopback also runs the receiver's
 * stack). scripts/bench-compare.sh builds this with cc and multiplies by the datagrams of
 * its call flow (14).
 * Usage: loopback-floor [PAIRS] [BYTES]   (default 200000 pairs of 700-byte datagrams)
 * Prints: ns_per_pair=N (process CPU, user + system, from getrusage, per pair). */
#include "floor.h"

int main(int argc, char **argv) {
    long pairs = argc > 1 ? atol(argv[1]) : 200000;
    size_t bytes = argc > 2 ? (size_t)atol(argv[2]) : 700;
    struct sockaddr_in a, b;
    int from = bound_socket(&a), to = bound_socket(&b);
    char *buf = calloc(1, bytes + 1);
    /* Warm up (socket buffers, caches) before measuring. */
    for (long i = 0; i < 1000; i++) {
        sendto(from, buf, bytes, 0, (struct sockaddr *)&b, sizeof b);
        recv(to, buf, bytes + 1, 0);
    }
    double start = cpu_seconds_of(RUSAGE_SELF);
    for (long i = 0; i < pairs; i++) {
        if (sendto(from, buf, bytes, 0, (struct sockaddr *)&b, sizeof b) != (ssize_t)bytes ||
            recv(to, buf, bytes + 1, 0) != (ssize_t)bytes) {
            perror("loopback-floor: sendto/recv");
            return 1;
        }
    }
    printf("ns_per_pair=%.0f\n", (cpu_seconds_of(RUSAGE_SELF) - start) * 1e9 / pairs);
    return 0;
}
