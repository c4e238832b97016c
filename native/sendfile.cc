// Sends a file range to a TCP socket with sendfile(2): the kernel copies page cache to socket
// once, where read()+write() from JavaScript copies twice and keeps the main thread busy doing
// it. Every sendfile call runs on libuv's thread pool (a cold file may block on the disk); when
// the socket is full the main loop waits for it to become writable with uv_poll, so a slow
// client holds no thread. The socket and file descriptors are dup()ed, so whatever Node does
// to its own descriptors meanwhile can never make this write to an unrelated file.
#include <node_api.h>
#include <uv.h>

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

namespace {

// Bytes one pool task sends at most before giving the thread back.
constexpr size_t kSliceBytes = 8 * 1024 * 1024;

struct Transfer {
  napi_env env;
  napi_ref callback;
  napi_async_work work;
  uv_poll_t poll;
  int socket_fd;
  int file_fd;
  off_t offset;
  uint64_t remaining;
  uint64_t sent;
  int error;        // errno of a failure, 0 while fine
  bool would_block; // the socket buffer is full: wait for writable
  bool polling;
};

void Execute(napi_env, void* data) {
  auto* t = static_cast<Transfer*>(data);
  t->would_block = false;
  uint64_t budget = kSliceBytes;
  while (t->remaining > 0 && budget > 0) {
    size_t chunk = static_cast<size_t>(t->remaining < budget ? t->remaining : budget);
    ssize_t n = sendfile(t->socket_fd, t->file_fd, &t->offset, chunk);
    if (n > 0) {
      t->remaining -= static_cast<uint64_t>(n);
      t->sent += static_cast<uint64_t>(n);
      budget -= static_cast<uint64_t>(n) < budget ? static_cast<uint64_t>(n) : budget;
      continue;
    }
    if (n == 0) {  // the file ended early
      t->error = EIO;
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      t->would_block = true;
      return;
    }
    t->error = errno;
    return;
  }
}

void Complete(napi_env env, napi_status status, void* data);
void Finish(Transfer* t);

void Queue(Transfer* t) {
  // Called from libuv callbacks too, where no handle scope is open for the name's napi_value.
  napi_handle_scope scope;
  napi_open_handle_scope(t->env, &scope);
  napi_value name;
  napi_create_string_utf8(t->env, "wharf:sendfile", NAPI_AUTO_LENGTH, &name);
  bool queued = napi_create_async_work(t->env, nullptr, name, Execute, Complete, t, &t->work) == napi_ok &&
                napi_queue_async_work(t->env, t->work) == napi_ok;
  napi_close_handle_scope(t->env, scope);
  if (!queued) {
    t->error = ENOMEM;
    Finish(t);
  }
}

void OnPollClosed(uv_handle_t* handle) {
  auto* t = static_cast<Transfer*>(handle->data);
  close(t->socket_fd);
  close(t->file_fd);
  napi_env env = t->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value callback, global, argv[2];
  napi_get_reference_value(env, t->callback, &callback);
  napi_get_global(env, &global);
  napi_create_int32(env, t->error, &argv[0]);
  napi_create_double(env, static_cast<double>(t->sent), &argv[1]);
  napi_delete_reference(env, t->callback);
  delete t;
  napi_call_function(env, global, callback, 2, argv, nullptr);
  napi_close_handle_scope(env, scope);
}

void Finish(Transfer* t) {
  if (t->polling) uv_poll_stop(&t->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&t->poll), OnPollClosed);
}

void OnWritable(uv_poll_t* handle, int status, int) {
  auto* t = static_cast<Transfer*>(handle->data);
  uv_poll_stop(handle);
  t->polling = false;
  if (status < 0) {
    t->error = -status;
    Finish(t);
    return;
  }
  Queue(t);
}

void Complete(napi_env env, napi_status, void* data) {
  auto* t = static_cast<Transfer*>(data);
  napi_delete_async_work(env, t->work);
  if (t->error != 0 || t->remaining == 0) {
    Finish(t);
    return;
  }
  if (t->would_block) {
    t->polling = true;
    uv_poll_start(&t->poll, UV_WRITABLE | UV_DISCONNECT, OnWritable);
    return;
  }
  Queue(t);
}

// sendfile(socketFd, fileFd, offset, length, callback(errno, bytesSent))
napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 5) {
    napi_throw_type_error(env, nullptr, "sendfile(socketFd, fileFd, offset, length, callback)");
    return nullptr;
  }
  int32_t socket_fd, file_fd;
  double offset, length;
  napi_get_value_int32(env, argv[0], &socket_fd);
  napi_get_value_int32(env, argv[1], &file_fd);
  napi_get_value_double(env, argv[2], &offset);
  napi_get_value_double(env, argv[3], &length);
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  auto* t = new Transfer{};
  t->env = env;
  t->offset = static_cast<off_t>(offset);
  t->remaining = static_cast<uint64_t>(length);
  t->socket_fd = fcntl(socket_fd, F_DUPFD_CLOEXEC, 0);
  t->file_fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
  if (t->socket_fd < 0 || t->file_fd < 0) {
    int error = errno;
    if (t->socket_fd >= 0) close(t->socket_fd);
    if (t->file_fd >= 0) close(t->file_fd);
    delete t;
    napi_value code;
    napi_create_int32(env, error, &code);
    return code;
  }
  napi_create_reference(env, argv[4], 1, &t->callback);
  uv_poll_init(loop, &t->poll, t->socket_fd);
  t->poll.data = t;
  Queue(t);
  napi_value zero;
  napi_create_int32(env, 0, &zero);
  return zero;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, Send, nullptr, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
