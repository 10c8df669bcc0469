/*
 * A tiny HTTP/1.0 test app for the end-to-end tests, linked statically so it runs FROM scratch.
 *
 *   GET /           200 "<version>\n" once ready, 503 before
 *   GET /health     same as /
 *   GET /slow?ms=N  waits N ms, then answers like /  (in-flight requests for drain tests)
 *   GET /version    the version, always 200
 *   GET /upgrade    with Upgrade: answers 101 and echoes every byte back, prefixed once by the version
 *                   (what the proxy must carry for WebSockets; the framing is the app's business)
 *   GET /stream?n=N&ms=M   N events, one every M ms, as text/event-stream (server-sent events)
 *   POST /upload    reads the body (Content-Length) and answers "received BYTES"
 *   GET /forwarded  answers "proto=<X-Forwarded-Proto> for=<X-Forwarded-For> host=<X-Forwarded-Host>"
 *   GET /connections  "accepted N": TCP connections accepted since start (shows keep-alive at work)
 *
 * HTTP/1.1 requests to /, /health, /version, /forwarded and /connections keep the connection open
 * for the next request (60 s idle at most), unless they ask for Connection: close; everything else
 * is one request per connection.
 *
 * It reads its version from /version (a file in the image's top layer) and becomes ready
 * READY_AFTER seconds after start (env, default 0; "never" keeps it at 503 forever).
 * ALLOWED_HOSTS (comma-separated, like Django's setting): other Host headers get 400.
 * REFUSE_PROXIED=1: a request with X-Forwarded-For gets 400 (an app that is wrong behind a proxy).
 * NEEDS_FILE=PATH: / and /health answer 503 while PATH does not exist (an app whose schema a
 * migration changed); GET /needs answers its content (what a release command wrote).
 * HEALTH_PORT=N: a second port answering every request with HEALTH_PORT_STATUS (default 200).
 * FAIL_EVERY=N: every Nth request of / answers 500 (/health never): a version that passes its health
 * check but fails real requests (what a canary catches).
 * BASE_PATH=/p: an app mounted under a sub-path (Rails' relative_url_root, Django's SCRIPT_NAME):
 * /p and /p/... are routed as / and /..., any other path gets 404.
 *   GET ...whoami...  (anywhere in the path) "<version> path=<the path as received> prefix=<X-Forwarded-Prefix or ->"
 * On SIGTERM it stops accepting, closes idle kept-alive connections, lets in-flight requests finish
 * (at most 30 s) and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char version[128] = "unknown";
static double ready_at = 0;
static int never_ready = 0;
static atomic_int in_flight = 0;
static atomic_long accepted = 0;
static volatile sig_atomic_t stopping = 0;
static const char *allowed_hosts = NULL;
static int refuse_proxied = 0;
static const char *needs_file = NULL;
static long fail_every = 0;
static long root_requests = 0;
static const char *base_path = NULL;

/* Under BASE_PATH: the path without it ("/p" -> "/", "/p/x" -> "/x", "/p?q" -> "/?q"); 0 outside it. */
static int strip_base(char *path) {
  size_t n = strlen(base_path);
  if (strncmp(path, base_path, n) != 0 || (path[n] != 0 && path[n] != '/' && path[n] != '?')) return 0;
  if (path[n] == '/') memmove(path, path + n, strlen(path + n) + 1);
  else { memmove(path + 1, path + n, strlen(path + n) + 1); path[0] = '/'; }
  return 1;
}

/* The content of NEEDS_FILE into out; 0 when it cannot be read. */
static int read_needed(char *out, size_t size) {
  FILE *f = fopen(needs_file, "r");
  if (!f) return 0;
  size_t n = fread(out, 1, size - 1, f);
  out[n] = 0;
  fclose(f);
  return 1;
}

/* Whether the request's Host header (without its port) is one of ALLOWED_HOSTS. */
static int host_allowed(const char *req) {
  if (!allowed_hosts || !*allowed_hosts) return 1;
  const char *h = strcasestr(req, "\nHost:");
  if (!h) return 0;
  h += 6;
  while (*h == ' ') h++;
  size_t len = strcspn(h, ":\r\n");
  const char *list = allowed_hosts;
  while (*list) {
    size_t item = strcspn(list, ",");
    if (item == len && strncasecmp(list, h, len) == 0) return 1;
    list += item;
    if (*list == ',') list++;
  }
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Set per request by serve(): whether this answer leaves the connection open for another request. */
static __thread int keep_alive = 0;

static void reply(int fd, int status, const char *body) {
  char buf[768];
  const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : status == 400 ? "Bad Request" : "Service Unavailable";
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.%d %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                   "X-App-Version: %s\r\n%s\r\n%s",
                   keep_alive, status, reason, strlen(body), version, keep_alive ? "" : "Connection: close\r\n", body);
  ssize_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, buf + off, n - off);
    if (w <= 0) break;
    off += w;
  }
}

static void write_all(int fd, const char *buf, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, buf + off, n - off);
    if (w <= 0) return;
    off += (size_t)w;
  }
}

static long query_long(const char *path, const char *key, long fallback) {
  const char *at = strstr(path, key);
  return at ? atol(at + strlen(key)) : fallback;
}

/* The value of a request header, or "-", into out. */
static void header_value(const char *req, const char *name, char *out, size_t size) {
  char key[64];
  snprintf(key, sizeof key, "\n%s:", name);
  const char *at = strcasestr(req, key);
  snprintf(out, size, "-");
  if (!at) return;
  at += strlen(key);
  while (*at == ' ') at++;
  size_t n = strcspn(at, "\r\n");
  if (n >= size) n = size - 1;
  memcpy(out, at, n);
  out[n] = 0;
}

/* Waits for the next request on a kept-alive connection: 0 when idle too long or shutting down. */
static int next_request_comes(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  for (int waited = 0; waited < 60000; waited += 100) {
    int r = poll(&p, 1, 100);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return 0;
    if (stopping) return 0;
  }
  return 0;
}

/* Answers one request; returns whether the connection stays open for another. */
static int serve_one(int fd);

static void *serve(void *arg) {
  int fd = (int)(long)arg;
  while (serve_one(fd) && next_request_comes(fd)) {
  }
  close(fd);
  atomic_fetch_sub(&in_flight, 1);
  return NULL;
}

static int serve_one(int fd) {
  char req[2048];
  ssize_t got = 0;
  while (got < (ssize_t)sizeof req - 1) {
    ssize_t r = read(fd, req + got, sizeof req - 1 - got);
    if (r <= 0) break;
    got += r;
    req[got] = 0;
    if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
  }
  req[got] = 0;
  if (got == 0) return 0;
  char path[1024] = "/", protocol[16] = "", received[1024];
  sscanf(req, "%*s %1023s %15s", path, protocol);
  memcpy(received, path, sizeof received);
  int outside_base = base_path && !strip_base(path);
  keep_alive = !stopping && strcmp(protocol, "HTTP/1.1") == 0 && !strcasestr(req, "\nConnection: close") &&
               (strcmp(path, "/") == 0 || strncmp(path, "/health", 7) == 0 || strcmp(path, "/version") == 0 ||
                strcmp(path, "/forwarded") == 0 || strcmp(path, "/connections") == 0);
  char body[256];
  snprintf(body, sizeof body, "%s\n", version);
  int ready = !never_ready && now() >= ready_at;
  if (!host_allowed(req)) {
    reply(fd, 400, "host not allowed\n");
  } else if (refuse_proxied && strcasestr(req, "\nX-Forwarded-For:")) {
    reply(fd, 400, "proxied request refused\n");
  } else if (outside_base) {
    reply(fd, 404, "outside BASE_PATH\n");
  } else if (strstr(path, "/whoami")) {
    char prefix[128], answer[1300];
    header_value(req, "X-Forwarded-Prefix", prefix, sizeof prefix);
    snprintf(answer, sizeof answer, "%s path=%s prefix=%s\n", version, received, prefix);
    reply(fd, 200, answer);
  } else if (strncmp(path, "/slow", 5) == 0) {
    const char *ms = strstr(path, "ms=");
    long wait = ms ? atol(ms + 3) : 1000;
    if (wait > 60000) wait = 60000;
    usleep(wait * 1000);
    reply(fd, ready ? 200 : 503, body);
  } else if (strcmp(path, "/upgrade") == 0) {
    if (!strcasestr(req, "\nUpgrade:")) {
      reply(fd, 400, "no upgrade asked\n");
    } else {
      const char *head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
      write_all(fd, head, strlen(head));
      write_all(fd, version, strlen(version));
      write_all(fd, ":", 1);
      char buf[4096];
      ssize_t r;
      while ((r = read(fd, buf, sizeof buf)) > 0) write_all(fd, buf, (size_t)r);
    }
  } else if (strncmp(path, "/stream", 7) == 0) {
    long n = query_long(path, "n=", 5), ms = query_long(path, "ms=", 500);
    if (ms > 10000) ms = 10000;
    char head[256];
    int len = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                       "X-App-Version: %s\r\nConnection: close\r\n\r\n", version);
    write_all(fd, head, (size_t)len);
    for (long i = 1; i <= n && i <= 1000; i++) {
      char event[64];
      int len = snprintf(event, sizeof event, "data: %ld\n\n", i);
      write_all(fd, event, (size_t)len);
      if (i < n) usleep(ms * 1000);
    }
  } else if (strcmp(path, "/upload") == 0) {
    const char *cl = strcasestr(req, "\nContent-Length:");
    long long want = cl ? atoll(cl + 16) : 0, have = 0;
    char *end = strstr(req, "\r\n\r\n");
    if (end) have = got - (end + 4 - req);
    char buf[8192];
    while (have < want) {
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) break;
      have += r;
    }
    char answer[64];
    snprintf(answer, sizeof answer, "received %lld\n", have);
    reply(fd, 200, answer);
  } else if (strcmp(path, "/forwarded") == 0) {
    char proto[64], fwd[160], host[160], answer[448];
    header_value(req, "X-Forwarded-Proto", proto, sizeof proto);
    header_value(req, "X-Forwarded-For", fwd, sizeof fwd);
    header_value(req, "X-Forwarded-Host", host, sizeof host);
    snprintf(answer, sizeof answer, "proto=%s for=%s host=%s\n", proto, fwd, host);
    reply(fd, 200, answer);
  } else if (strcmp(path, "/connections") == 0) {
    char answer[64];
    snprintf(answer, sizeof answer, "accepted %ld\n", atomic_load(&accepted));
    reply(fd, 200, answer);
  } else if (strcmp(path, "/version") == 0) {
    reply(fd, 200, body);
  } else if (strcmp(path, "/needs") == 0) {
    char content[200];
    if (needs_file && read_needed(content, sizeof content)) reply(fd, 200, content);
    else reply(fd, 404, "no needed file\n");
  } else if (needs_file && (strcmp(path, "/") == 0 || strncmp(path, "/health", 7) == 0) && access(needs_file, F_OK) != 0) {
    reply(fd, 503, "needed file missing\n");
  } else if (fail_every > 0 && ready && strcmp(path, "/") == 0 && __atomic_add_fetch(&root_requests, 1, __ATOMIC_SEQ_CST) % fail_every == 0) {
    reply(fd, 500, "failed on purpose (FAIL_EVERY)\n");
  } else if (strcmp(path, "/") == 0 || strncmp(path, "/health", 7) == 0 || path[1] == '?') {
    reply(fd, ready ? 200 : 503, ready ? body : "starting\n");
  } else {
    reply(fd, 404, "not found\n");
  }
  return keep_alive;
}

static void on_term(int sig) { (void)sig; stopping = 1; }

/* HEALTH_PORT=N: a second listener (a management port) that answers every request with
 * HEALTH_PORT_STATUS (default 200), whatever the app's own readiness: what health-port checks. */
static int health_status = 200;
static void *health_listener(void *arg) {
  int ls = (int)(long)arg;
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) continue;
    char req[2048];
    ssize_t r = read(fd, req, sizeof req);
    (void)r;
    char head[160];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d health\r\nContent-Length: 7\r\nConnection: close\r\n\r\nhealth\n", health_status);
    write_all(fd, head, (size_t)n);
    close(fd);
  }
  return NULL;
}

static void start_health_listener(const char *port_s) {
  const char *st = getenv("HEALTH_PORT_STATUS");
  if (st && *st) health_status = atoi(st);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(port_s)), .sin_addr.s_addr = INADDR_ANY};
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 64)) {
    perror("listen on HEALTH_PORT");
    exit(1);
  }
  pthread_t t;
  pthread_create(&t, NULL, health_listener, (void *)(long)ls);
  pthread_detach(t);
}

int main(void) {
  FILE *vf = fopen("/version", "r");
  if (vf) {
    if (fgets(version, sizeof version, vf)) version[strcspn(version, "\r\n")] = 0;
    fclose(vf);
  }
  const char *ra = getenv("READY_AFTER");
  if (ra && strcmp(ra, "never") == 0) never_ready = 1;
  ready_at = now() + (ra && !never_ready ? atof(ra) : 0);
  allowed_hosts = getenv("ALLOWED_HOSTS");
  base_path = getenv("BASE_PATH");
  if (base_path && !*base_path) base_path = NULL;
  needs_file = getenv("NEEDS_FILE");
  if (getenv("FAIL_EVERY")) fail_every = atol(getenv("FAIL_EVERY"));
  if (needs_file && !*needs_file) needs_file = NULL;
  refuse_proxied = getenv("REFUSE_PROXIED") && strcmp(getenv("REFUSE_PROXIED"), "1") == 0;
  const char *port_s = getenv("PORT");
  int port = port_s ? atoi(port_s) : 8080;
  const char *health_port = getenv("HEALTH_PORT");
  if (health_port && *health_port) start_health_listener(health_port);

  struct sigaction sa = {0};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY};
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 512)) {
    perror("listen");
    return 1;
  }
  printf("testapp %s listening on :%d (ready %s)\n", version, port,
         never_ready ? "never" : ra ? ra : "now");
  fflush(stdout);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  while (!stopping) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      continue;
    }
    atomic_fetch_add(&in_flight, 1);
    atomic_fetch_add(&accepted, 1);
    pthread_t t;
    if (pthread_create(&t, &attr, serve, (void *)(long)fd)) {
      close(fd);
      atomic_fetch_sub(&in_flight, 1);
    }
  }
  close(ls);
  printf("testapp %s: SIGTERM, draining %d in-flight request(s)\n", version, atomic_load(&in_flight));
  fflush(stdout);
  double deadline = now() + 30;
  while (atomic_load(&in_flight) > 0 && now() < deadline) usleep(10000);
  printf("testapp %s: stopped\n", version);
  return 0;
}
