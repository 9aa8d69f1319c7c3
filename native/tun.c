/*
 * socklab_tun — TUN devices for `socklab link` (Linux): open /dev/net/tun, create the device with
 * ioctl(TUNSETIFF, IFF_TUN | IFF_NO_PI) in this namespace or in another process's network namespace
 * (setns(2) there and back, on this thread only), and move IP packets in batches.
 *
 * Node cannot ioctl() or setns(): that is all this file is for. The device is not persistent: it
 * goes away when its descriptor is closed, so nothing outlives the process that opened it.
 *
 * JavaScript side: src/core/tun.ts (the only code that opens it).
 *
 *   open(name, nsPath | null, onBatch(count, bytes), onError(code), vnet) -> [handle, actualName]
 *     vnet 0: plain IP packets. 1: IFF_VNET_HDR: every packet read and written starts with a 10-byte
 *     virtio header; packets read are MTU-sized with their checksums done, and a write may be a TCP
 *     segment of up to 64 KiB (GSO) that the kernel takes whole, as GRO would have made it.
 *     2: as 1, and TUNSETOFFLOAD (checksum, TSO): packets read may be such segments too
 *   arena() -> Uint8Array: during onBatch, its first `bytes` bytes are the batch's packets
 *   meta() -> Int32Array: per packet [offset, length]
 *   start(handle)   stop(handle)   close(handle)
 *   write(handle, buffer) -> 0 | errno name        (one packet; EAGAIN: the device queue is full)
 *   dropped(handle) -> writes refused because the device's queue was full
 *
 *   timerOpen(onFire()) -> handle      a timer on CLOCK_MONOTONIC with the kernel's precision (timerfd)
 *   timerArm(handle, monotonicNs)      fire once at that time (absolute, as process.hrtime.bigint())
 *   timerStop(handle)   timerClose(handle)
 *   setRealtime(priority) -> 0 | errno name   SCHED_FIFO for this thread, reset on fork
 *
 * The timer is for the link's delays: libuv's timers count whole milliseconds, and a timerfd wakes
 * the event loop within microseconds of its time without spinning.
 *
 * One readable event reads up to BATCH packets (one read() each: a TUN gives one packet per read)
 * and hands them to JavaScript in one call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errors.h"

#define BATCH 64     /* packets per readable event, at most */
#define SLOT (65536 + 64) /* room for the largest packet (a GSO one: 64 KiB and its virtio header) */
#define META_INTS 2  /* per packet: offset, length */

#define CHECK(call)                                                                          \
  do {                                                                                       \
    if ((call) != napi_ok) return NULL;                                                      \
  } while (0)

typedef struct {
  char *arena;
  int32_t *meta;
  napi_ref arena_ref;
  napi_ref meta_ref;
} instance_t;

typedef struct {
  int fd;
  int closed;
  int polling;
  int refs;
  double dropped;
  uv_poll_t poll;
  napi_env env;
  instance_t *inst;
  napi_ref on_batch;
  napi_ref on_error;
  napi_async_context async;
} tun_t;

static void tun_unref(tun_t *t) {
  if (--t->refs == 0) free(t);
}

static instance_t *instance(napi_env env) {
  instance_t *inst = NULL;
  napi_get_instance_data(env, (void **)&inst);
  return inst;
}

static tun_t *args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  tun_t *t = NULL;
  if (napi_get_cb_info(env, info, &n, argv, NULL, NULL) != napi_ok) return NULL;
  if (napi_get_value_external(env, argv[0], (void **)&t) != napi_ok || t == NULL) {
    napi_throw_type_error(env, NULL, "not a socklab_tun handle");
    return NULL;
  }
  return t;
}

/* Create the device on this thread's current namespace. Returns the fd, or -errno. `name` gets
 * the kernel's name for it. */
static int make_tun(char name[IFNAMSIZ], int vnet, const char **failed) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *failed = "open /dev/net/tun";
    return -errno;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet > 0 ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    *failed = "ioctl TUNSETIFF";
    return -err;
  }
  /* Offloads: each packet read or written starts with a struct virtio_net_hdr (10 bytes), and the
   * kernel may hand over (and take) TCP segments of up to 64 KiB with their checksum left to do. */
  if (vnet > 1 && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
    int err = errno;
    close(fd);
    *failed = "ioctl TUNSETOFFLOAD";
    return -err;
  }
  memcpy(name, ifr.ifr_name, IFNAMSIZ);
  name[IFNAMSIZ - 1] = 0;
  return fd;
}

static void call_js(tun_t *t, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = t->env;
  napi_value fn, global, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &global);
  if (napi_make_callback(env, t->async, global, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  tun_t *t = handle->data;
  instance_t *in = t->inst;
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  t->refs++;
  if (status < 0) {
    napi_value code;
    napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
    call_js(t, t->on_error, 1, &code);
  }
  int n = 0;
  size_t offset = 0;
  int err = 0;
  while (status == 0 && !t->closed && n < BATCH && offset + SLOT <= (size_t)BATCH * SLOT) {
    ssize_t r = read(t->fd, in->arena + offset, SLOT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    in->meta[n * META_INTS] = (int32_t)offset;
    in->meta[n * META_INTS + 1] = (int32_t)r;
    offset += (size_t)r;
    n++;
  }
  if (n > 0 && !t->closed) {
    napi_value count, bytes;
    napi_create_int32(env, n, &count);
    napi_create_int32(env, (int32_t)offset, &bytes);
    napi_value argv[2] = {count, bytes};
    call_js(t, t->on_batch, 2, argv);
  }
  if (err != 0 && !t->closed) {
    napi_value code = errno_value(env, err);
    call_js(t, t->on_error, 1, &code);
  }
  tun_unref(t);
  napi_close_handle_scope(env, scope);
}

/* open(name, nsPath | null, onBatch, onError, vnet) -> [handle, name] */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  size_t len = 0;
  memset(name, 0, sizeof name);
  CHECK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len));
  napi_valuetype type;
  CHECK(napi_typeof(env, argv[1], &type));
  const char *failed = NULL;
  int fd;
  int32_t vnet = 0;
  if (argc >= 5) napi_get_value_int32(env, argv[4], &vnet);
  if (type == napi_string) {
    char path[256];
    CHECK(napi_get_value_string_utf8(env, argv[1], path, sizeof path, &len));
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) return throw_errno(env, path, errno);
    int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) {
      int e = errno;
      close(target);
      return throw_errno(env, "open /proc/thread-self/ns/net", e);
    }
    if (setns(target, CLONE_NEWNET) < 0) {
      int e = errno;
      close(target);
      close(home);
      return throw_errno(env, "setns", e);
    }
    fd = make_tun(name, vnet, &failed);
    /* Back home: if this fails the thread would open every later socket in the other namespace. */
    if (setns(home, CLONE_NEWNET) < 0) {
      fprintf(stderr, "socklab: setns back to the original network namespace failed: %s\n", strerror(errno));
      abort();
    }
    close(target);
    close(home);
  } else {
    fd = make_tun(name, vnet, &failed);
  }
  if (fd < 0) return throw_errno(env, failed, -fd);
  tun_t *t = calloc(1, sizeof *t);
  if (!t) {
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  t->fd = fd;
  t->env = env;
  t->inst = instance(env);
  t->refs = 1;
  CHECK(napi_create_reference(env, argv[2], 1, &t->on_batch));
  CHECK(napi_create_reference(env, argv[3], 1, &t->on_error));
  napi_value resource, rname, handle, result, actual;
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, "socklab:tun", NAPI_AUTO_LENGTH, &rname));
  CHECK(napi_async_init(env, resource, rname, &t->async));
  CHECK(napi_create_external(env, t, NULL, NULL, &handle));
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &actual));
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_set_element(env, result, 0, handle));
  CHECK(napi_set_element(env, result, 1, actual));
  return result;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tun_t *t = args(env, info, 1, argv);
  if (!t || t->closed) return NULL;
  if (t->poll.data == NULL) {
    uv_loop_t *loop;
    CHECK(napi_get_uv_event_loop(env, &loop));
    int r = uv_poll_init(loop, &t->poll, t->fd);
    if (r < 0) return throw_errno(env, "uv_poll_init", -r);
    t->poll.data = t;
    t->refs++; /* released when the poll handle is closed */
  }
  if (!t->polling) {
    uv_poll_start(&t->poll, UV_READABLE, on_poll);
    t->polling = 1;
  }
  return NULL;
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tun_t *t = args(env, info, 1, argv);
  if (!t || t->closed || !t->polling) return NULL;
  uv_poll_stop(&t->poll);
  t->polling = 0;
  return NULL;
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[2], zero;
  tun_t *t = args(env, info, 2, argv);
  if (!t) return NULL;
  CHECK(napi_create_int32(env, 0, &zero));
  if (t->closed) return zero;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "data must be a Buffer");
    return NULL;
  }
  for (;;) {
    ssize_t r = write(t->fd, data, len);
    if (r >= 0) return zero;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) t->dropped += 1;
    return errno_value(env, errno);
  }
}

static napi_value js_dropped(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  tun_t *t = args(env, info, 1, argv);
  if (!t) return NULL;
  CHECK(napi_create_double(env, t->dropped, &result));
  return result;
}

static void on_poll_closed(uv_handle_t *h) {
  tun_unref((tun_t *)h->data);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tun_t *t = args(env, info, 1, argv);
  if (!t || t->closed) return NULL;
  t->closed = 1;
  if (t->poll.data != NULL) {
    uv_poll_stop(&t->poll);
    uv_close((uv_handle_t *)&t->poll, on_poll_closed);
  }
  close(t->fd); /* the device goes with it */
  napi_delete_reference(env, t->on_batch);
  napi_delete_reference(env, t->on_error);
  napi_async_destroy(env, t->async);
  tun_unref(t);
  return NULL;
}

typedef struct {
  int fd;
  int polling;
  int closed;
  uv_poll_t poll;
  napi_env env;
  napi_ref on_fire;
  napi_async_context async;
} timer_t_;

static void on_timer(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  timer_t_ *t = handle->data;
  uint64_t expirations;
  while (read(t->fd, &expirations, sizeof expirations) < 0 && errno == EINTR) {
  }
  if (t->closed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(t->env, &scope) != napi_ok) return;
  napi_value fn, global, result;
  if (napi_get_reference_value(t->env, t->on_fire, &fn) == napi_ok && fn != NULL) {
    napi_get_global(t->env, &global);
    if (napi_make_callback(t->env, t->async, global, fn, 0, NULL, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(t->env, &err);
      napi_fatal_exception(t->env, err);
    }
  }
  napi_close_handle_scope(t->env, scope);
}

static timer_t_ *timer_arg(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  timer_t_ *t = NULL;
  if (napi_get_cb_info(env, info, &n, argv, NULL, NULL) != napi_ok) return NULL;
  if (napi_get_value_external(env, argv[0], (void **)&t) != napi_ok || t == NULL) {
    napi_throw_type_error(env, NULL, "not a socklab timer handle");
    return NULL;
  }
  return t;
}

static napi_value js_timer_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "timerfd_create", errno);
  timer_t_ *t = calloc(1, sizeof *t);
  if (!t) {
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  t->fd = fd;
  t->env = env;
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &t->poll, fd);
  if (r < 0) {
    close(fd);
    free(t);
    return throw_errno(env, "uv_poll_init", -r);
  }
  t->poll.data = t;
  CHECK(napi_create_reference(env, argv[0], 1, &t->on_fire));
  napi_value resource, name, handle;
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, "socklab:timer", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, resource, name, &t->async));
  CHECK(napi_create_external(env, t, NULL, NULL, &handle));
  return handle;
}

static napi_value js_timer_arm(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  timer_t_ *t = timer_arg(env, info, 2, argv);
  if (!t || t->closed) return NULL;
  double ns;
  CHECK(napi_get_value_double(env, argv[1], &ns));
  if (ns < 1) ns = 1; /* 0 would disarm it */
  struct itimerspec spec;
  memset(&spec, 0, sizeof spec);
  spec.it_value.tv_sec = (time_t)(ns / 1e9);
  spec.it_value.tv_nsec = (long)(ns - (double)spec.it_value.tv_sec * 1e9);
  if (spec.it_value.tv_nsec < 0) spec.it_value.tv_nsec = 0;
  if (spec.it_value.tv_nsec >= 1000000000L) spec.it_value.tv_nsec = 999999999L;
  if (timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &spec, NULL) < 0) return throw_errno(env, "timerfd_settime", errno);
  if (!t->polling) {
    uv_poll_start(&t->poll, UV_READABLE, on_timer);
    t->polling = 1;
  }
  return NULL;
}

static napi_value js_timer_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  timer_t_ *t = timer_arg(env, info, 1, argv);
  if (!t || t->closed) return NULL;
  struct itimerspec spec;
  memset(&spec, 0, sizeof spec);
  timerfd_settime(t->fd, 0, &spec, NULL);
  if (t->polling) {
    uv_poll_stop(&t->poll);
    t->polling = 0;
  }
  return NULL;
}

static void on_timer_closed(uv_handle_t *h) {
  free(h->data);
}

static napi_value js_timer_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  timer_t_ *t = timer_arg(env, info, 1, argv);
  if (!t || t->closed) return NULL;
  t->closed = 1;
  uv_poll_stop(&t->poll);
  close(t->fd);
  napi_delete_reference(env, t->on_fire);
  napi_async_destroy(env, t->async);
  uv_close((uv_handle_t *)&t->poll, on_timer_closed);
  return NULL;
}

/* setRealtime(priority): this thread (the event loop's) under SCHED_FIFO at that priority, with
 * SCHED_RESET_ON_FORK so that what it spawns runs as usual. Returns 0 or an errno name. */
static napi_value js_set_realtime(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t priority = 10;
  if (argc >= 1) napi_get_value_int32(env, argv[0], &priority);
  struct sched_param param = {.sched_priority = priority};
  if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) < 0) return errno_value(env, errno);
  CHECK(napi_create_int32(env, 0, &result));
  return result;
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
  napi_delete_reference(env, in->arena_ref);
  free(in);
}

static napi_value init(napi_env env, napi_value exports) {
  instance_t *in = calloc(1, sizeof *in);
  if (!in) return NULL;
  napi_value arena, meta;
  void *arena_data, *meta_data;
  CHECK(napi_create_arraybuffer(env, (size_t)BATCH * SLOT, &arena_data, &arena));
  in->arena = arena_data;
  CHECK(napi_create_reference(env, arena, 1, &in->arena_ref));
  CHECK(napi_create_arraybuffer(env, (size_t)BATCH * META_INTS * sizeof(int32_t), &meta_data, &meta));
  in->meta = meta_data;
  CHECK(napi_create_reference(env, meta, 1, &in->meta_ref));
  CHECK(napi_set_instance_data(env, in, free_instance, NULL));
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, js_stop, NULL, NULL, NULL, napi_default, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_default, NULL},
      {"dropped", NULL, js_dropped, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"meta", NULL, js_meta, NULL, NULL, NULL, napi_default, NULL},
      {"arena", NULL, js_arena, NULL, NULL, NULL, napi_default, NULL},
      {"timerOpen", NULL, js_timer_open, NULL, NULL, NULL, napi_default, NULL},
      {"setRealtime", NULL, js_set_realtime, NULL, NULL, NULL, napi_default, NULL},
      {"timerArm", NULL, js_timer_arm, NULL, NULL, NULL, napi_default, NULL},
      {"timerStop", NULL, js_timer_stop, NULL, NULL, NULL, napi_default, NULL},
      {"timerClose", NULL, js_timer_close, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
