/*
 * Unix datagram sockets (AF_UNIX, SOCK_DGRAM), which Node core does not have: part of the
 * socklab_udp addon (udp_batch.c calls unix_dgram_init from its init). JavaScript side:
 * src/core/unix-datagram.ts, a DatagramSocket like the UDP ones, for `listen -u unix:PATH`,
 * `connect -u unix:PATH` and `nc -U -u`.
 *
 *   unixOpen(onMessage(buffer, fromPath), onError(code)) -> handle
 *   unixBind(handle, path)      path '' = autobind (Linux picks an abstract name); '@name' = abstract
 *   unixConnect(handle, path)   unixStart(handle)      unixClose(handle)
 *   unixSend(handle, buffer) -> 0 | errno name      unixSendTo(handle, buffer, path) -> 0 | errno name
 *   unixAddress(handle) -> path ('' unbound, '@name' abstract)
 *   unixSetBuffers(handle, recvBytes, sendBytes)
 *
 * Reading: non-blocking recvfrom() when uv_poll says readable, READS_PER_EVENT at most per event,
 * each datagram copied into its own Buffer and handed to onMessage with the sender's path ('' when
 * the sender has no address: it cannot be answered). A send that finds the peer's queue full
 * waits up to SEND_WAIT_MS, then fails with EAGAIN: never a silent block, never a silent drop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errors.h"

#define UNIX_MAX_DATAGRAM (256 * 1024) /* above the default socket buffers: nothing is cut */
#define READS_PER_EVENT 64
#define SEND_WAIT_MS 10

#define CHECK(call)                                                                          \
  do {                                                                                       \
    if ((call) != napi_ok) return NULL;                                                      \
  } while (0)

typedef struct {
  int fd;
  int closed;
  int refs; /* the JavaScript handle, and the poll handle while it is open */
  char *buf;
  uv_poll_t poll;
  napi_env env;
  napi_ref on_message;
  napi_ref on_error;
  napi_async_context async;
} usock_t;

static void usock_unref(usock_t *s) {
  if (--s->refs == 0) {
    free(s->buf);
    free(s);
  }
}

static usock_t *ud_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  usock_t *s = NULL;
  if (napi_get_cb_info(env, info, &n, argv, NULL, NULL) != napi_ok) return NULL;
  if (napi_get_value_external(env, argv[0], (void **)&s) != napi_ok || s == NULL) {
    napi_throw_type_error(env, NULL, "not a socklab unix handle");
    return NULL;
  }
  return s;
}

/* A path as JavaScript gives it to a sockaddr_un ('@name': abstract; '': autobind). -1: too long. */
static int make_sun(napi_env env, napi_value value, struct sockaddr_un *sun, socklen_t *len) {
  char path[sizeof sun->sun_path + 1];
  size_t n = 0;
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  if (napi_get_value_string_utf8(env, value, path, sizeof path, &n) != napi_ok) return -1;
  if (n >= sizeof sun->sun_path) return -1;
  if (n == 0) {
    *len = offsetof(struct sockaddr_un, sun_path); /* autobind */
    return 0;
  }
  memcpy(sun->sun_path, path, n);
  if (path[0] == '@') {
    sun->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
  } else {
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  }
  return 0;
}

/* A sockaddr_un as a string: the path, '@name' for an abstract one, '' for none. */
static napi_value sun_value(napi_env env, const struct sockaddr_un *sun, socklen_t len) {
  napi_value v;
  size_t base = offsetof(struct sockaddr_un, sun_path);
  if (len <= base) {
    napi_create_string_utf8(env, "", 0, &v);
    return v;
  }
  size_t n = len - base;
  char text[sizeof sun->sun_path + 1];
  if (n > sizeof sun->sun_path) n = sizeof sun->sun_path;
  if (sun->sun_path[0] == '\0') {
    text[0] = '@';
    memcpy(text + 1, sun->sun_path + 1, n - 1);
    napi_create_string_utf8(env, text, n, &v);
    return v;
  }
  napi_create_string_utf8(env, sun->sun_path, strnlen(sun->sun_path, n), &v);
  return v;
}

static void ud_call(usock_t *s, napi_ref ref, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value fn, global, result;
  if (ref == NULL || napi_get_reference_value(env, ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &global);
  if (napi_make_callback(env, s->async, global, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void ud_on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  usock_t *s = handle->data;
  napi_env env = s->env;
  s->refs++; /* a callback may close it */
  if (status < 0) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      napi_value code;
      napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
      ud_call(s, s->on_error, 1, &code);
      napi_close_handle_scope(env, scope);
    }
  }
  for (int i = 0; i < READS_PER_EVENT && !s->closed && status == 0; i++) {
    struct sockaddr_un from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(s->fd, s->buf, UNIX_MAX_DATAGRAM, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) break;
    if (n < 0) {
      napi_value code = errno_value(env, errno);
      ud_call(s, s->on_error, 1, &code);
    } else {
      napi_value argv[2];
      void *copy;
      napi_create_buffer_copy(env, (size_t)n, s->buf, &copy, &argv[0]);
      argv[1] = sun_value(env, &from, fromlen);
      ud_call(s, s->on_message, 2, argv);
    }
    napi_close_handle_scope(env, scope);
  }
  usock_unref(s);
}

static void ud_poll_closed(uv_handle_t *h) {
  usock_unref((usock_t *)h->data);
}

static void ud_shut(usock_t *s) {
  s->closed = 1;
  if (s->poll.data != NULL) {
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, ud_poll_closed);
  }
  close(s->fd);
}

static void ud_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  usock_t *s = data;
  if (!s->closed) ud_shut(s);
  usock_unref(s);
}

static napi_value js_unix_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  usock_t *s = calloc(1, sizeof *s);
  char *buf = malloc(UNIX_MAX_DATAGRAM);
  if (!s || !buf) {
    free(s);
    free(buf);
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  s->fd = fd;
  s->buf = buf;
  s->env = env;
  s->refs = 1;
  napi_value name, resource, handle;
  CHECK(napi_create_reference(env, argv[0], 1, &s->on_message));
  CHECK(napi_create_reference(env, argv[1], 1, &s->on_error));
  CHECK(napi_create_string_utf8(env, "socklab:unix-dgram", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_async_init(env, resource, name, &s->async));
  CHECK(napi_create_external(env, s, ud_finalize, NULL, &handle));
  return handle;
}

static napi_value bind_or_connect(napi_env env, napi_callback_info info, int do_connect) {
  napi_value argv[2];
  usock_t *s = ud_args(env, info, 2, argv);
  if (!s) return NULL;
  const char *call = do_connect ? "connect" : "bind";
  struct sockaddr_un sun;
  socklen_t len;
  if (make_sun(env, argv[1], &sun, &len) != 0) return throw_errno(env, call, ENAMETOOLONG);
  int r = do_connect ? connect(s->fd, (struct sockaddr *)&sun, len) : bind(s->fd, (struct sockaddr *)&sun, len);
  if (r < 0) return throw_errno(env, call, errno);
  return NULL;
}

static napi_value js_unix_bind(napi_env env, napi_callback_info info) {
  return bind_or_connect(env, info, 0);
}

static napi_value js_unix_connect(napi_env env, napi_callback_info info) {
  return bind_or_connect(env, info, 1);
}

static napi_value js_unix_start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  usock_t *s = ud_args(env, info, 1, argv);
  if (!s || s->closed || s->poll.data != NULL) return NULL;
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &s->poll, s->fd);
  if (r < 0) return throw_errno(env, "uv_poll_init", -r);
  s->poll.data = s;
  s->refs++;
  uv_poll_start(&s->poll, UV_READABLE, ud_on_poll);
  return NULL;
}

static int wait_writable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
  return poll(&p, 1, SEND_WAIT_MS) == 1;
}

static napi_value send_common(napi_env env, usock_t *s, napi_value buffer, napi_value path) {
  napi_value zero;
  CHECK(napi_create_int32(env, 0, &zero));
  if (s->closed) return zero;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, buffer, &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "data must be a Buffer");
    return NULL;
  }
  struct sockaddr_un sun;
  socklen_t sunlen = 0;
  if (path != NULL && make_sun(env, path, &sun, &sunlen) != 0) return errno_value(env, ENAMETOOLONG);
  for (int tries = 0; tries < 3; tries++) {
    ssize_t r = path != NULL ? sendto(s->fd, data, len, 0, (struct sockaddr *)&sun, sunlen) : send(s->fd, data, len, 0);
    if (r >= 0) return zero;
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(s->fd)) continue;
    return errno_value(env, errno);
  }
  return errno_value(env, EAGAIN);
}

static napi_value js_unix_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  usock_t *s = ud_args(env, info, 2, argv);
  if (!s) return NULL;
  return send_common(env, s, argv[1], NULL);
}

static napi_value js_unix_send_to(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  usock_t *s = ud_args(env, info, 3, argv);
  if (!s) return NULL;
  return send_common(env, s, argv[1], argv[2]);
}

static napi_value js_unix_address(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  usock_t *s = ud_args(env, info, 1, argv);
  if (!s) return NULL;
  struct sockaddr_un sun;
  socklen_t len = sizeof sun;
  if (getsockname(s->fd, (struct sockaddr *)&sun, &len) < 0) return throw_errno(env, "getsockname", errno);
  return sun_value(env, &sun, len);
}

static napi_value js_unix_set_buffers(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  usock_t *s = ud_args(env, info, 3, argv);
  if (!s) return NULL;
  int32_t rcv, snd;
  CHECK(napi_get_value_int32(env, argv[1], &rcv));
  CHECK(napi_get_value_int32(env, argv[2], &snd));
  if (rcv > 0 && setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) < 0)
    return throw_errno(env, "setsockopt", errno);
  if (snd > 0 && setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd) < 0)
    return throw_errno(env, "setsockopt", errno);
  return NULL;
}

static napi_value js_unix_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  usock_t *s = ud_args(env, info, 1, argv);
  if (!s || s->closed) return NULL;
  ud_shut(s);
  napi_delete_reference(env, s->on_message);
  napi_delete_reference(env, s->on_error);
  napi_async_destroy(env, s->async);
  s->on_message = s->on_error = NULL;
  return NULL;
}

napi_value unix_dgram_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"unixOpen", NULL, js_unix_open, NULL, NULL, NULL, napi_default, NULL},
      {"unixBind", NULL, js_unix_bind, NULL, NULL, NULL, napi_default, NULL},
      {"unixConnect", NULL, js_unix_connect, NULL, NULL, NULL, napi_default, NULL},
      {"unixStart", NULL, js_unix_start, NULL, NULL, NULL, napi_default, NULL},
      {"unixSend", NULL, js_unix_send, NULL, NULL, NULL, napi_default, NULL},
      {"unixSendTo", NULL, js_unix_send_to, NULL, NULL, NULL, napi_default, NULL},
      {"unixAddress", NULL, js_unix_address, NULL, NULL, NULL, napi_default, NULL},
      {"unixSetBuffers", NULL, js_unix_set_buffers, NULL, NULL, NULL, napi_default, NULL},
      {"unixClose", NULL, js_unix_close, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}
