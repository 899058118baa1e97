/* Open-loop HTTP/1.1 load generator for bench/mi_endpoint.sh: N keep-alive connections to 127.0.0.1:PORT, requests
   sent on a fixed schedule (RATE per second in total), latency measured from each request's *scheduled* time, so a
   stalled server cannot hide its stall by slowing the client down (coordinated omission). One thread, epoll.
   Usage: loadgen PORT PATH HEADER RATE SECONDS CONNECTIONS    (HEADER: one "Name: value" line)
   Prints: sent ok p50_us p90_us p99_us p999_us max_us achieved_per_s */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    int fd;
    int busy;             /* a request is in flight */
    double scheduled;     /* its scheduled send time */
    long queued;          /* requests scheduled for this connection but not yet sent */
    double queue_times[4096];
    int qhead, qtail;
    char buf[65536];
    int len;
} conn_t;

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: loadgen PORT PATH HEADER RATE SECONDS CONNECTIONS\n"); return 64; }
    int port = atoi(argv[1]);
    const char *path = argv[2], *header = argv[3];
    double rate = atof(argv[4]), seconds = atof(argv[5]);
    int n = atoi(argv[6]);
    if (port <= 0 || rate <= 0 || seconds <= 0 || n <= 0 || n > 1024) { fprintf(stderr, "loadgen: bad arguments\n"); return 64; }
    char req[8192];
    int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nMetadata: true\r\n\r\n", path, header);
    if (reqlen <= 0 || reqlen >= (int)sizeof req) return 64;
    conn_t *c = calloc((size_t)n, sizeof *c);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        c[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(c[i].fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("loadgen: connect"); return 69; }
        int one = 1;
        setsockopt(c[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (unsigned)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
    }
    long total = (long)(rate * seconds);
    double *lat = malloc(sizeof(double) * (size_t)total);
    long sent = 0, done = 0, ok = 0, next = 0;
    double start = now_us() + 1000, interval = 1e6 / rate;
    while (done < total) {
        double t = now_us();
        /* Schedule every request whose time has come onto its connection's queue; send if the connection is free. */
        while (next < total && start + next * interval <= t) {
            conn_t *k = &c[next % n];
            k->queue_times[k->qtail] = start + next * interval;
            k->qtail = (k->qtail + 1) % 4096;
            next++;
        }
        for (int i = 0; i < n; i++) {
            conn_t *k = &c[i];
            if (!k->busy && k->qhead != k->qtail) {
                k->scheduled = k->queue_times[k->qhead];
                k->qhead = (k->qhead + 1) % 4096;
                if (write(k->fd, req, (size_t)reqlen) != reqlen) { perror("loadgen: write"); return 74; }
                k->busy = 1;
                sent++;
            }
        }
        double wait_until = next < total ? start + next * interval : t + 1000;
        int timeout_ms = (int)((wait_until - now_us()) / 1000);
        if (timeout_ms < 0) timeout_ms = 0;
        struct epoll_event evs[64];
        int m = epoll_wait(ep, evs, 64, timeout_ms);
        for (int e = 0; e < m; e++) {
            conn_t *k = &c[evs[e].data.u32];
            ssize_t r = read(k->fd, k->buf + k->len, sizeof k->buf - (size_t)k->len);
            if (r <= 0) { fprintf(stderr, "loadgen: connection closed\n"); return 74; }
            k->len += (int)r;
            for (;;) {
                char *end = memmem(k->buf, (size_t)k->len, "\r\n\r\n", 4);
                if (!end) break;
                long clen = 0;
                char *cl = memmem(k->buf, (size_t)(end - k->buf), "ontent-Length:", 14);
                if (!cl) cl = memmem(k->buf, (size_t)(end - k->buf), "ontent-length:", 14);
                if (cl) clen = strtol(cl + 14, NULL, 10);
                int whole = (int)(end - k->buf) + 4 + (int)clen;
                if (k->len < whole) break;
                if (k->len >= 12 && memcmp(k->buf + 9, "200", 3) == 0) ok++;
                lat[done++] = now_us() - k->scheduled;
                memmove(k->buf, k->buf + whole, (size_t)(k->len - whole));
                k->len -= whole;
                k->busy = 0;
                if (k->qhead != k->qtail) {
                    k->scheduled = k->queue_times[k->qhead];
                    k->qhead = (k->qhead + 1) % 4096;
                    if (write(k->fd, req, (size_t)reqlen) != reqlen) { perror("loadgen: write"); return 74; }
                    k->busy = 1;
                    sent++;
                }
            }
        }
    }
    double elapsed = (now_us() - start) / 1e6;
    qsort(lat, (size_t)done, sizeof(double), cmp);
    printf("%ld %ld %.0f %.0f %.0f %.0f %.0f %.0f\n", sent, ok, lat[done / 2], lat[done * 9 / 10], lat[done * 99 / 100],
           lat[done * 999 / 1000], lat[done - 1], done / elapsed);
    return 0;
}
