/*
 * The open-loop load generator of `npm run bench` (ci/bench/open-loop.mjs builds and runs it):
 * one request is due every 1/rate s whatever the answers do, and each latency is counted from the
 * moment the request was due, so a server that falls behind shows as latency (no coordinated
 * omission). Written in C rather than in Node because the client's own delays count in every
 * figure: a Node client shares one event loop between sending on time and timestamping answers,
 * and on the bench's 2 cores its own lateness was a large share of the p99 it reported.
 *
 *   open-loop PORT RATE SECONDS REQUEST_FILE [CONNECTIONS]
 *
 * REQUEST_FILE holds one complete HTTP/1.1 request (a pre-signed SigV4 request: a signature
 * stays valid for minutes). CONNECTIONS keep-alive connections to 127.0.0.1:PORT (default 64) are
 * opened before the first request is due; a request due while every connection is busy waits
 * for the first one free (and that wait counts). Answers must carry Content-Length. Prints one
 * JSON line: requests answered, the rate achieved, latency percentiles, non-2xx answers, socket
 * errors, and how late the client itself sent (p99 and max of send time - due time, which
 * includes waiting for a free connection). Every request is answered or counted as an error
 * within SECONDS + 30 s. With OPEN_LOOP_SAMPLES=FILE it also writes each answer's due time and
 * latency there, to line the slow ones up with what a server recorded (see the variable below).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define TIMER_ID UINT32_MAX

typedef struct {
  int fd;
  int busy;
  int parked; /* in the idle list: a connection the server closed while idle is reopened there, not listed twice */
  double due;
  size_t len;
  char buf[BUF];
} conn_t;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *xs, long n, double p) {
  if (n == 0) return 0;
  long i = (long)(n * p);
  return xs[i < n ? i : n - 1];
}

static int open_conn(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("open-loop: connect");
    exit(2);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Lengths of the complete answer at the start of buf (header + body), 0 if not all there yet, -1 if malformed. */
static long answer_length(char *buf, size_t len, int *status) {
  char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (!end) return len >= BUF ? -1 : 0;
  size_t head = (size_t)(end - buf) + 4;
  long body = -1;
  for (char *line = memchr(buf, '\n', head); line && line < end; line = memchr(line + 1, '\n', (size_t)(end - line))) {
    if (strncasecmp(line + 1, "content-length:", 15) == 0) body = strtol(line + 16, NULL, 10);
  }
  if (body < 0 || head + (size_t)body > BUF) return -1;
  if (len < head + (size_t)body) return 0;
  *status = (len > 12 && strncmp(buf, "HTTP/1.", 7) == 0) ? atoi(buf + 9) : 0;
  return (long)head + body;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: open-loop PORT RATE SECONDS REQUEST_FILE [CONNECTIONS]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  double rate = atof(argv[2]), seconds = atof(argv[3]);
  int nconn = argc > 5 ? atoi(argv[5]) : 64;
  if (port <= 0 || rate <= 0 || seconds <= 0 || nconn <= 0) {
    fprintf(stderr, "open-loop: PORT, RATE, SECONDS and CONNECTIONS must be positive\n");
    return 2;
  }
  FILE *f = fopen(argv[4], "rb");
  if (!f) {
    perror("open-loop: request file");
    return 2;
  }
  static char req[1 << 20];
  size_t req_len = fread(req, 1, sizeof req, f);
  fclose(f);

  long total = (long)(rate * seconds);
  if (total < 1) total = 1;
  double *latency = calloc((size_t)total, sizeof(double));
  double *late = calloc((size_t)total, sizeof(double));
  double *waiting = calloc((size_t)total, sizeof(double)); /* due times of requests waiting for a connection */
  /* OPEN_LOOP_SAMPLES=FILE: each answer as "due_ms latency_ms" (CLOCK_MONOTONIC, the clock of
   * process.hrtime() in a Node server on the same machine), to line slow answers up with events
   * the server records. */
  const char *samples_path = getenv("OPEN_LOOP_SAMPLES");
  double *due_of = samples_path ? calloc((size_t)total, sizeof(double)) : NULL;
  conn_t *conns = calloc((size_t)nconn, sizeof(conn_t));
  int *idle = calloc((size_t)nconn, sizeof(int));
  if (!latency || !late || !waiting || !conns || !idle) return 2;
  long wait_head = 0, wait_tail = 0, answered = 0, sent = 0, scheduled = 0, non2xx = 0, errors = 0;
  int nidle = 0;

  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = nconn - 1; i >= 0; i--) {
    conns[i].fd = open_conn(port);
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &e);
    conns[i].parked = 1;
    idle[nidle++] = i;
  }
  int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  struct epoll_event te = {.events = EPOLLIN, .data.u32 = TIMER_ID};
  epoll_ctl(ep, EPOLL_CTL_ADD, timer, &te);

  const double start = now_ms() + 1, interval = 1000.0 / rate, give_up = start + seconds * 1000 + 30000;
#define SEND(i, d)                                                                   \
  do {                                                                               \
    conns[i].busy = 1;                                                               \
    conns[i].due = (d);                                                              \
    late[sent++] = now_ms() - (d);                                                   \
    if (write_all(conns[i].fd, req, req_len) != 0) {                                 \
      errors++;                                                                      \
      conns[i].busy = 0;                                                             \
      close(conns[i].fd);                                                            \
      conns[i].fd = -1;                                                              \
    }                                                                                \
  } while (0)

  while (answered + errors < total) {
    double t = now_ms();
    if (t > give_up) {
      errors += total - answered - errors;
      break;
    }
    for (; scheduled < total && start + scheduled * interval <= t; scheduled++) {
      double due = start + scheduled * interval;
      if (nidle > 0) {
        int i = idle[--nidle];
        conns[i].parked = 0;
        SEND(i, due);
      } else {
        waiting[wait_tail++] = due;
      }
    }
    if (scheduled < total) {
      double next = start + scheduled * interval;
      struct itimerspec its = {0};
      its.it_value.tv_sec = (time_t)(next / 1000);
      its.it_value.tv_nsec = (long)((next - its.it_value.tv_sec * 1000.0) * 1e6);
      timerfd_settime(timer, TFD_TIMER_ABSTIME, &its, NULL);
    }
    struct epoll_event events[64];
    int n = epoll_wait(ep, events, 64, 100);
    for (int k = 0; k < n; k++) {
      uint32_t i = events[k].data.u32;
      if (i == TIMER_ID) {
        uint64_t expirations;
        if (read(timer, &expirations, sizeof expirations) < 0) { /* nothing to do */
        }
        continue;
      }
      conn_t *c = &conns[i];
      ssize_t r = read(c->fd, c->buf + c->len, BUF - c->len);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        /* Closed by the server: an answer still owed is an error; the connection is not reused. */
        if (c->busy) errors++;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = open_conn(port);
        c->busy = 0;
        c->len = 0;
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
      } else {
        c->len += (size_t)r;
        int status = 0;
        long got = answer_length(c->buf, c->len, &status);
        if (got < 0) {
          fprintf(stderr, "open-loop: an answer without Content-Length or larger than %d bytes\n", BUF);
          return 2;
        }
        if (got == 0) continue;
        if (c->busy && answered < total) {
          if (due_of) due_of[answered] = c->due;
          latency[answered++] = now_ms() - c->due;
        }
        if (status < 200 || status >= 300) non2xx++;
        memmove(c->buf, c->buf + got, c->len - (size_t)got);
        c->len -= (size_t)got;
        c->busy = 0;
      }
      if (c->fd >= 0 && !c->busy) {
        if (wait_head < wait_tail) {
          SEND(i, waiting[wait_head]);
          wait_head++;
        } else if (!c->parked) {
          c->parked = 1;
          idle[nidle++] = (int)i;
        }
      }
    }
  }
  double elapsed = now_ms() - start;
  if (due_of) {
    FILE *out = fopen(samples_path, "w");
    if (!out) {
      perror("open-loop: OPEN_LOOP_SAMPLES");
      return 2;
    }
    for (long k = 0; k < answered; k++) fprintf(out, "%.3f %.3f\n", due_of[k], latency[k]);
    fclose(out);
  }
  qsort(latency, (size_t)answered, sizeof(double), cmp);
  qsort(late, (size_t)sent, sizeof(double), cmp);
  printf("{\"sent\":%ld,\"answered\":%ld,\"rate\":%.2f,\"p50Ms\":%.3f,\"p90Ms\":%.3f,\"p99Ms\":%.3f,\"p999Ms\":%.3f,\"maxMs\":%.3f,"
         "\"non2xx\":%ld,\"errors\":%ld,\"sendLateP99Ms\":%.3f,\"sendLateMaxMs\":%.3f}\n",
         sent, answered, answered * 1000.0 / elapsed, pct(latency, answered, 0.5), pct(latency, answered, 0.9),
         pct(latency, answered, 0.99), pct(latency, answered, 0.999), answered ? latency[answered - 1] : 0, non2xx, errors,
         pct(late, sent, 0.99), sent ? late[sent - 1] : 0);
  return 0;
}
