/*
 * The addon's one way to turn an errno into JavaScript: a code string ("EADDRINUSE", as libuv names
 * it: on Unix a libuv error is -errno), and a thrown Error with `code`, `syscall` and `errno`, as
 * Node's own system errors have. Shared by udp_batch.c, unix_dgram.c and tun.c.
 */
#ifndef SOCKLAB_NAPI_ERRORS_H
#define SOCKLAB_NAPI_ERRORS_H

#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

static inline napi_value errno_value(napi_env env, int err) {
  napi_value v;
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &v);
  return v;
}

/* Throws `syscall: strerror(err)` and returns NULL, for `return throw_errno(...)`. */
static inline napi_value throw_errno(napi_env env, const char *syscall, int err) {
  napi_value code = errno_value(env, err), message, error, sys, n;
  char text[200];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_set_named_property(env, error, "code", code);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  napi_create_int32(env, -err, &n);
  napi_set_named_property(env, error, "errno", n);
  napi_throw(env, error);
  return NULL;
}

#endif
