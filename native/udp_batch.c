/*
 * socklab_udp — UDP sockets that read and write in batches (Linux recvmmsg/sendmmsg).
 *
 * node:dgram costs about 2 µs of CPU per datagram each way: a JavaScript callback with a fresh
 * Buffer and address object per datagram received, and a send request object per datagram sent.
 * Here one readable event reads up to BATCH datagrams with one recvmmsg(), hands them to
 * JavaScript in one call (packed at the start of a shared arena, which the callback copies into
 * one Buffer of its own, and a shared Int32Array describing each), and every send made during
 * that call is queued and written with sendmmsg() when it returns. A socket that answered reads
 * again at once (its peer may have replied already), READ_ROUNDS times at most per event.
 *
 * JavaScript side: src/core/datagram.ts (which falls back to node:dgram without this addon): every
 * UDP socket of socklab (listen -u, connect -u, the relay, bench) is opened there.
 *
 *   open(family, onBatch(count, bytes), onError(code)) -> handle
 *   arena() -> Uint8Array: during onBatch, its first `bytes` bytes are the batch's datagrams
 *   meta() -> Int32Array: per datagram [offset, length, family, port, a0, a1, a2, a3]
 *   setBuffers(handle, recvBytes, sendBytes)   bind(handle, ip, port)   connect(handle, ip, port)
 *   address(handle) -> [ip, port]              start(handle)            close(handle)
 *   send(handle, buffer) -> 0 | errno name     (connected socket)
 *   sendTo(handle, buffer, family, a0, a1, a2, a3, port) -> 0 | errno name
 *   format(family, a0, a1, a2, a3) -> ip string
 *   cork() / uncork()   queue sends (any socket) until uncork(), then sendmmsg() them: a sender's burst
 *   unix*()             Unix datagram sockets: see unix_dgram.c
 *
 * Sends made outside a batch callback (timers) are written at once, one syscall each.
 * A send that finds the socket buffer full waits up to SEND_WAIT_MS for room, then drops the
 * datagram and counts it (dropped(handle)): UDP may drop, but never silently block.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errors.h"

#define BATCH 64                  /* datagrams per recvmmsg() */
#define SLOT 65536                /* room for the largest datagram */
#define READ_ROUNDS 16            /* recvmmsg() calls per readable event, at most */
#define META_INTS 8               /* per datagram: offset, length, family, port, a0..a3 */
#define SEND_QUEUE 1024           /* datagrams queued during one batch callback */
#define SEND_ARENA (4 << 20)      /* bytes queued during one batch callback */
#define SEND_WAIT_MS 10           /* how long a full socket buffer may hold up a send */

#define CHECK(call)                                                                          \
  do {                                                                                       \
    if ((call) != napi_ok) return NULL;                                                      \
  } while (0)

typedef struct instance instance_t;

typedef struct sock {
  int fd;
  int family;
  int closed;
  int refs; /* one for the JavaScript handle, one for the poll handle while it is open */
  int error; /* errno of a failed queued send, reported after the flush */
  unsigned sends; /* datagrams handed to send()/sendTo(), wrapping: "did it send" is a difference */
  double dropped;
  uv_poll_t poll;
  napi_env env;
  instance_t *inst;
  napi_ref on_batch;
  napi_ref on_error;
  napi_async_context async;
} sock_t;

typedef struct {
  sock_t *sock;
  struct sockaddr_storage to;
  socklen_t tolen;
  size_t offset;
  size_t length;
} queued_t;

struct instance {
  char *recv_arena;
  struct mmsghdr rmsgs[BATCH];
  struct iovec riov[BATCH];
  struct sockaddr_storage raddr[BATCH];
  napi_ref meta_ref;
  napi_ref arena_ref; /* recv_arena's ArrayBuffer: JavaScript copies each batch out of it */
  int32_t *meta;
  char *send_arena;
  size_t send_used;
  queued_t queue[SEND_QUEUE];
  struct mmsghdr smsgs[SEND_QUEUE];
  struct iovec siov[SEND_QUEUE];
  int queued;
  int dispatching;
};

static void sock_unref(sock_t *s) {
  if (--s->refs == 0) free(s);
}

static instance_t *instance(napi_env env) {
  instance_t *inst = NULL;
  napi_get_instance_data(env, (void **)&inst);
  return inst;
}

/* The arguments of a call (at most `n`, the rest undefined) and the socket in the first. */
static sock_t *args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  sock_t *s = NULL;
  if (napi_get_cb_info(env, info, &n, argv, NULL, NULL) != napi_ok) return NULL;
  if (napi_get_value_external(env, argv[0], (void **)&s) != napi_ok || s == NULL) {
    napi_throw_type_error(env, NULL, "not a socklab_udp handle");
    return NULL;
  }
  return s;
}

/* Fill a sockaddr from (family, four 32-bit words of address, port). */
static socklen_t make_addr(struct sockaddr_storage *ss, int family, const int32_t a[4], int port) {
  memset(ss, 0, sizeof *ss);
  if (family == 4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    memcpy(&sin->sin_addr, &a[0], 4);
    return sizeof *sin;
  }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons((uint16_t)port);
  memcpy(&sin6->sin6_addr, a, 16);
  return sizeof *sin6;
}

static int parse_addr(napi_env env, napi_value ip, napi_value port, int family, struct sockaddr_storage *ss,
                      socklen_t *len) {
  char text[64];
  size_t n = 0;
  uint32_t p = 0;
  int32_t words[4] = {0, 0, 0, 0};
  if (napi_get_value_string_utf8(env, ip, text, sizeof text, &n) != napi_ok) return -1;
  if (napi_get_value_uint32(env, port, &p) != napi_ok || p > 65535) return -1;
  if (inet_pton(family == 4 ? AF_INET : AF_INET6, text, words) != 1) return -1;
  *len = make_addr(ss, family, words, (int)p);
  return 0;
}

/* Wait until fd can take a datagram, at most SEND_WAIT_MS. */
static int wait_writable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
  return poll(&p, 1, SEND_WAIT_MS) == 1;
}

/* One datagram, now. Returns 0 or an errno (EAGAIN: dropped after waiting). */
static int send_now(sock_t *s, const void *data, size_t len, const struct sockaddr_storage *to, socklen_t tolen) {
  for (int tries = 0; tries < 3; tries++) {
    ssize_t r = to ? sendto(s->fd, data, len, 0, (const struct sockaddr *)to, tolen) : send(s->fd, data, len, 0);
    if (r >= 0) return 0;
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) && wait_writable(s->fd)) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
    return errno;
  }
  s->dropped += 1;
  return 0;
}

/* Write what the batch callback queued: one sendmmsg() per run of datagrams for the same socket. */
static void flush(instance_t *in) {
  int i = 0;
  while (i < in->queued) {
    sock_t *s = in->queue[i].sock;
    int j = i;
    while (j < in->queued && in->queue[j].sock == s) {
      queued_t *q = &in->queue[j];
      in->siov[j].iov_base = in->send_arena + q->offset;
      in->siov[j].iov_len = q->length;
      memset(&in->smsgs[j], 0, sizeof in->smsgs[j]);
      in->smsgs[j].msg_hdr.msg_iov = &in->siov[j];
      in->smsgs[j].msg_hdr.msg_iovlen = 1;
      if (q->tolen > 0) {
        in->smsgs[j].msg_hdr.msg_name = &q->to;
        in->smsgs[j].msg_hdr.msg_namelen = q->tolen;
      }
      j++;
    }
    int sent = i, waits = 0;
    while (!s->closed && sent < j) {
      int r = sendmmsg(s->fd, &in->smsgs[sent], (unsigned)(j - sent), 0);
      if (r > 0) {
        sent += r;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        if (waits++ < 3 && wait_writable(s->fd)) continue;
        s->dropped += j - sent;
        break;
      }
      /* An error for the first datagram (an ICMP error reported late, EMSGSIZE…): skip it. */
      if (s->error == 0) s->error = r < 0 ? errno : EIO;
      sent += 1;
    }
    i = j;
  }
  for (int k = 0; k < in->queued; k++) sock_unref(in->queue[k].sock);
  in->queued = 0;
  in->send_used = 0;
}

static void call_js(sock_t *s, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value fn, global, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &global);
  if (napi_make_callback(env, s->async, global, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

/* Errors recorded during a flush go to their sockets' onError once every queued send is done. */
static void report_errors(sock_t **touched, int n) {
  for (int k = 0; k < n; k++) {
    sock_t *s = touched[k];
    if (s->error == 0 || s->closed) continue;
    int err = s->error;
    s->error = 0;
    napi_value code = errno_value(s->env, err);
    call_js(s, s->on_error, 1, &code);
  }
}

/* Flush, then tell the sockets that sent (a few: a batch sends to its flows) of their errors. */
static void flush_and_report(instance_t *in) {
  sock_t *touched[8];
  int nt = 0;
  for (int q = 0; q < in->queued && nt < 8; q++) {
    int seen = 0;
    for (int t = 0; t < nt; t++) seen |= touched[t] == in->queue[q].sock;
    if (!seen) {
      touched[nt++] = in->queue[q].sock;
      in->queue[q].sock->refs++;
    }
  }
  flush(in);
  report_errors(touched, nt);
  for (int t = 0; t < nt; t++) sock_unref(touched[t]);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  sock_t *s = handle->data;
  instance_t *in = s->inst;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  s->refs++; /* the callback may close it: keep the memory until we are done */
  if (status < 0) {
    /* libuv stops the poll on POLLERR: an ICMP error (port unreachable) on a connected socket.
     * Take the socket's error, report it, and poll again: the socket itself is fine. */
    int err = 0;
    socklen_t len = sizeof err;
    napi_value code;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
      code = errno_value(env, err);
      if (uv_poll_start(&s->poll, UV_READABLE, on_poll) == 0) status = 0;
    } else {
      napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
    }
    call_js(s, s->on_error, 1, &code);
  }
  for (int round = 0; round < READ_ROUNDS && !s->closed && status == 0; round++) {
    int n = recvmmsg(s->fd, in->rmsgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        /* ICMP port unreachable on a connected socket, and the like: report it, keep reading. */
        napi_value code = errno_value(env, errno);
        call_js(s, s->on_error, 1, &code);
        continue;
      }
      break;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) {
      total += in->rmsgs[i].msg_len;
      in->rmsgs[i].msg_hdr.msg_namelen = sizeof in->raddr[i]; /* the kernel wrote it: ready again */
    }
    /* Pack the datagrams at the start of the arena, in place (each moves down, never over one
     * not yet moved); the callback copies them out before the next read. */
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
      size_t len = in->rmsgs[i].msg_len;
      int32_t *m = in->meta + (size_t)i * META_INTS;
      if (offset != (size_t)i * SLOT) memmove(in->recv_arena + offset, in->riov[i].iov_base, len);
      m[0] = (int32_t)offset;
      m[1] = (int32_t)len;
      const struct sockaddr_storage *a = &in->raddr[i];
      if (a->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)a;
        m[2] = 4;
        m[3] = ntohs(sin->sin_port);
        memcpy(&m[4], &sin->sin_addr, 4);
        m[5] = m[6] = m[7] = 0;
      } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)a;
        m[2] = 6;
        m[3] = ntohs(sin6->sin6_port);
        memcpy(&m[4], &sin6->sin6_addr, 16);
      }
      offset += len;
    }
    napi_value count, bytes;
    napi_create_int32(env, n, &count);
    napi_create_int32(env, (int32_t)total, &bytes);
    napi_value argv[2] = {count, bytes};
    unsigned sends = s->sends;
    in->dispatching++;
    call_js(s, s->on_batch, 2, argv);
    if (--in->dispatching == 0) flush_and_report(in);
    /* Fewer than a full batch: the socket is drained, back to the loop. Unless this socket
     * answered: a peer on this host (a ping-pong's echo server) has often replied by the time
     * sendmmsg() returns, and reading now saves the event loop's epoll_wait() per round trip,
     * as libuv's own UDP read loop does (one recvmmsg() that finds nothing when it has not). */
    if (n < BATCH && s->sends == sends) break;
  }
  sock_unref(s);
  napi_close_handle_scope(env, scope);
}

static napi_value queue_or_send(napi_env env, sock_t *s, napi_value buf, const struct sockaddr_storage *to,
                                socklen_t tolen) {
  instance_t *in = s->inst;
  void *data;
  size_t len;
  napi_value zero;
  CHECK(napi_create_int32(env, 0, &zero));
  if (s->closed) return zero;
  if (napi_get_buffer_info(env, buf, &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "data must be a Buffer");
    return NULL;
  }
  s->sends++;
  if (!in->dispatching) {
    int err = send_now(s, data, len, to, tolen);
    return err ? errno_value(env, err) : zero;
  }
  if (in->queued == SEND_QUEUE || in->send_used + len > SEND_ARENA) flush(in);
  if (len > SEND_ARENA) {
    int err = send_now(s, data, len, to, tolen);
    return err ? errno_value(env, err) : zero;
  }
  queued_t *q = &in->queue[in->queued++];
  q->sock = s;
  s->refs++; /* a queued datagram keeps its socket's memory until the flush */
  q->offset = in->send_used;
  q->length = len;
  q->tolen = 0;
  if (to) {
    memcpy(&q->to, to, tolen);
    q->tolen = tolen;
  }
  memcpy(in->send_arena + in->send_used, data, len);
  in->send_used += len;
  return zero;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sock_t *s = args(env, info, 2, argv);
  if (!s) return NULL;
  return queue_or_send(env, s, argv[1], NULL, 0);
}

static napi_value js_send_to(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  sock_t *s = args(env, info, 8, argv);
  if (!s) return NULL;
  int32_t family, a[4], port;
  CHECK(napi_get_value_int32(env, argv[2], &family));
  for (int i = 0; i < 4; i++) CHECK(napi_get_value_int32(env, argv[3 + i], &a[i]));
  CHECK(napi_get_value_int32(env, argv[7], &port));
  struct sockaddr_storage to;
  socklen_t tolen = make_addr(&to, family, a, port);
  return queue_or_send(env, s, argv[1], &to, tolen);
}

static void on_poll_closed(uv_handle_t *h) {
  sock_unref((sock_t *)h->data);
}

/* Stop reading and free the descriptor (the memory goes with the last reference). */
static void shut(sock_t *s) {
  s->closed = 1;
  if (s->poll.data != NULL) {
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  }
  close(s->fd);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sock_t *s = args(env, info, 1, argv);
  if (!s || s->closed) return NULL;
  /* Closed inside a batch (a server that stops after its reply): what it was handed goes out first. */
  if (s->inst->queued > 0) flush(s->inst);
  shut(s);
  napi_delete_reference(env, s->on_batch);
  napi_delete_reference(env, s->on_error);
  napi_async_destroy(env, s->async);
  s->on_batch = s->on_error = NULL;
  return NULL;
}

static void finalize_sock(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = data;
  if (!s->closed) shut(s); /* dropped without close(): the callbacks' references leak */
  sock_unref(s);
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t family;
  CHECK(napi_get_value_int32(env, argv[0], &family));
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (family == 6) {
    int off = 0; /* both IPv4 and IPv6 on '::', as node:dgram does */
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  sock_t *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  s->fd = fd;
  s->family = family;
  s->env = env;
  s->inst = instance(env);
  s->refs = 1;
  napi_value name, handle;
  CHECK(napi_create_reference(env, argv[1], 1, &s->on_batch));
  CHECK(napi_create_reference(env, argv[2], 1, &s->on_error));
  CHECK(napi_create_string_utf8(env, "socklab:udp", NAPI_AUTO_LENGTH, &name));
  napi_value resource;
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_async_init(env, resource, name, &s->async));
  CHECK(napi_create_external(env, s, finalize_sock, NULL, &handle));
  return handle;
}

static napi_value js_set_buffers(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  sock_t *s = args(env, info, 3, argv);
  if (!s) return NULL;
  int32_t rcv, snd;
  CHECK(napi_get_value_int32(env, argv[1], &rcv));
  CHECK(napi_get_value_int32(env, argv[2], &snd));
  /* As node:dgram: the kernel caps these at net.core.rmem_max / wmem_max. */
  if (rcv > 0 && setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) < 0)
    return throw_errno(env, "setsockopt", errno);
  if (snd > 0 && setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd) < 0)
    return throw_errno(env, "setsockopt", errno);
  return NULL;
}

static napi_value bind_or_connect(napi_env env, napi_callback_info info, int do_connect) {
  napi_value argv[3];
  sock_t *s = args(env, info, 3, argv);
  if (!s) return NULL;
  struct sockaddr_storage ss;
  socklen_t len;
  if (parse_addr(env, argv[1], argv[2], s->family, &ss, &len) != 0)
    return throw_errno(env, do_connect ? "connect" : "bind", EINVAL);
  int r = do_connect ? connect(s->fd, (struct sockaddr *)&ss, len) : bind(s->fd, (struct sockaddr *)&ss, len);
  if (r < 0) return throw_errno(env, do_connect ? "connect" : "bind", errno);
  return NULL;
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  return bind_or_connect(env, info, 0);
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  return bind_or_connect(env, info, 1);
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sock_t *s = args(env, info, 1, argv);
  if (!s || s->closed || s->poll.data != NULL) return NULL;
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &s->poll, s->fd);
  if (r < 0) return throw_errno(env, "uv_poll_init", -r);
  s->poll.data = s;
  s->refs++; /* released when the poll handle is closed */
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  return NULL;
}

static napi_value js_address(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sock_t *s = args(env, info, 1, argv);
  if (!s) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(s->fd, (struct sockaddr *)&ss, &len) < 0) return throw_errno(env, "getsockname", errno);
  char text[INET6_ADDRSTRLEN];
  int port;
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    port = ntohs(sin->sin_port);
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
    port = ntohs(sin6->sin6_port);
  }
  napi_value result, ip, p;
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &ip));
  CHECK(napi_create_int32(env, port, &p));
  CHECK(napi_set_element(env, result, 0, ip));
  CHECK(napi_set_element(env, result, 1, p));
  return result;
}

static napi_value js_format(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t family, a[4];
  CHECK(napi_get_value_int32(env, argv[0], &family));
  for (int i = 0; i < 4; i++) CHECK(napi_get_value_int32(env, argv[1 + i], &a[i]));
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, a, text, sizeof text);
  napi_value result;
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value js_dropped(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  sock_t *s = args(env, info, 1, argv);
  if (!s) return NULL;
  CHECK(napi_create_double(env, s->dropped, &result));
  return result;
}

/* cork(): queue what is sent until uncork(), which writes it with sendmmsg(). They nest. */
static napi_value js_cork(napi_env env, napi_callback_info info) {
  (void)info;
  instance(env)->dispatching++;
  return NULL;
}

static napi_value js_uncork(napi_env env, napi_callback_info info) {
  (void)info;
  instance_t *in = instance(env);
  if (in->dispatching > 0 && --in->dispatching == 0) flush_and_report(in);
  return NULL;
}

static napi_value js_meta(napi_env env, napi_callback_info info) {
  (void)info;
  instance_t *in = instance(env);
  napi_value buffer, array;
  CHECK(napi_get_reference_value(env, in->meta_ref, &buffer));
  CHECK(napi_create_typedarray(env, napi_int32_array, (size_t)BATCH * META_INTS, buffer, 0, &array));
  return array;
}

static napi_value js_arena(napi_env env, napi_callback_info info) {
  (void)info;
  instance_t *in = instance(env);
  napi_value buffer, array;
  CHECK(napi_get_reference_value(env, in->arena_ref, &buffer));
  CHECK(napi_create_typedarray(env, napi_uint8_array, (size_t)BATCH * SLOT, buffer, 0, &array));
  return array;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)hint;
  instance_t *in = data;
  napi_delete_reference(env, in->meta_ref);
  napi_delete_reference(env, in->arena_ref); /* recv_arena goes with its ArrayBuffer */
  free(in->send_arena);
  free(in);
}

/* Unix datagram sockets: unix_dgram.c, in the same addon. */
napi_value unix_dgram_init(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  instance_t *in = calloc(1, sizeof *in);
  if (!in) return NULL;
  in->send_arena = malloc(SEND_ARENA);
  if (!in->send_arena) {
    free(in);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_value arena;
  void *arena_data;
  CHECK(napi_create_arraybuffer(env, (size_t)BATCH * SLOT, &arena_data, &arena));
  in->recv_arena = arena_data;
  CHECK(napi_create_reference(env, arena, 1, &in->arena_ref));
  /* The receive headers, set up once: recvmmsg() writes back only msg_len, msg_namelen (reset
   * after each read) and msg_flags. */
  for (int i = 0; i < BATCH; i++) {
    in->riov[i].iov_base = in->recv_arena + (size_t)i * SLOT;
    in->riov[i].iov_len = SLOT;
    in->rmsgs[i].msg_hdr.msg_name = &in->raddr[i];
    in->rmsgs[i].msg_hdr.msg_namelen = sizeof in->raddr[i];
    in->rmsgs[i].msg_hdr.msg_iov = &in->riov[i];
    in->rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
  napi_value meta;
  void *meta_data;
  CHECK(napi_create_arraybuffer(env, (size_t)BATCH * META_INTS * sizeof(int32_t), &meta_data, &meta));
  in->meta = meta_data;
  CHECK(napi_create_reference(env, meta, 1, &in->meta_ref));
  CHECK(napi_set_instance_data(env, in, free_instance, NULL));

  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"setBuffers", NULL, js_set_buffers, NULL, NULL, NULL, napi_default, NULL},
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"address", NULL, js_address, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"sendTo", NULL, js_send_to, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"format", NULL, js_format, NULL, NULL, NULL, napi_default, NULL},
      {"dropped", NULL, js_dropped, NULL, NULL, NULL, napi_default, NULL},
      {"meta", NULL, js_meta, NULL, NULL, NULL, napi_default, NULL},
      {"arena", NULL, js_arena, NULL, NULL, NULL, napi_default, NULL},
      {"cork", NULL, js_cork, NULL, NULL, NULL, napi_default, NULL},
      {"uncork", NULL, js_uncork, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value batch;
  CHECK(napi_create_int32(env, BATCH, &batch));
  CHECK(napi_set_named_property(env, exports, "BATCH", batch));
  return unix_dgram_init(env, exports);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
