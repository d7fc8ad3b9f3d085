// Thin 1:1 Node binding over libbpf: objects, maps, programs, links, test runs. No policy here.
#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

// Debian's libbpf.a is PIE, not PIC: its one reference to glibc data (stderr) cannot be linked into a
// shared object. The Makefile renames it in a copy of the archive to this hidden pointer, set in Init().
extern "C" {
__attribute__((visibility("hidden"))) FILE *qs_libbpf_stderr = nullptr;
}

namespace {

// libbpf's log lines for the call in progress; verifier logs can be long, keep the tail.
constexpr size_t kMaxLog = 64 * 1024;
std::string g_log;
bool g_debug = false;

int LibbpfPrint(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !g_debug) return 0;
  // one call can carry a whole verifier log: size the buffer to the message
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return 0;
  std::string line(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(line.data(), line.size(), fmt, args);
  line.pop_back();
  g_log += line;
  if (g_log.size() > kMaxLog) g_log.erase(0, g_log.size() - kMaxLog);
  return 0;
}

// libbpf's own error numbers (LIBBPF_ERRNO__*) have no errno name.
const char *LibbpfErrName(int err) {
  switch (err) {
    case LIBBPF_ERRNO__LIBELF: return "LIBBPF_ERRNO__LIBELF";
    case LIBBPF_ERRNO__FORMAT: return "LIBBPF_ERRNO__FORMAT";
    case LIBBPF_ERRNO__KVERSION: return "LIBBPF_ERRNO__KVERSION";
    case LIBBPF_ERRNO__ENDIAN: return "LIBBPF_ERRNO__ENDIAN";
    case LIBBPF_ERRNO__INTERNAL: return "LIBBPF_ERRNO__INTERNAL";
    case LIBBPF_ERRNO__RELOC: return "LIBBPF_ERRNO__RELOC";
    case LIBBPF_ERRNO__LOAD: return "LIBBPF_ERRNO__LOAD";
    case LIBBPF_ERRNO__VERIFY: return "LIBBPF_ERRNO__VERIFY";
    case LIBBPF_ERRNO__PROG2BIG: return "LIBBPF_ERRNO__PROG2BIG";
    case LIBBPF_ERRNO__KVER: return "LIBBPF_ERRNO__KVER";
    case LIBBPF_ERRNO__PROGTYPE: return "LIBBPF_ERRNO__PROGTYPE";
    case LIBBPF_ERRNO__WRNGPID: return "LIBBPF_ERRNO__WRNGPID";
    case LIBBPF_ERRNO__INVSEQ: return "LIBBPF_ERRNO__INVSEQ";
    case LIBBPF_ERRNO__NLPARSE: return "LIBBPF_ERRNO__NLPARSE";
    default: return nullptr;
  }
}

// Every failure of libbpf or a syscall becomes Error{code, errno, syscall, log}.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string &op) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;
  char desc[256];
  libbpf_strerror(err, desc, sizeof(desc));
  const char *name = LibbpfErrName(err);
  if (!name) name = strerrorname_np(err);
  std::string code = name ? name : ("ERRNO_" + std::to_string(err));
  std::string msg = op + ": " + desc + " (" + code + ")";
  std::string log = g_log;
  while (!log.empty() && (log.back() == '\n' || log.back() == ' ')) log.pop_back();
  if (!log.empty()) msg += "\n" + log;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, op));
  e.Set("log", Napi::String::New(env, log));
  throw e;
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string &msg) {
  throw Napi::TypeError::New(env, msg);
}

[[noreturn]] void ThrowRange(Napi::Env env, const std::string &msg) {
  throw Napi::RangeError::New(env, msg);
}

// Starts a libbpf call: its log is collected from here until the next call starts.
void BeginCall() { g_log.clear(); }

// ---- argument readers: wrong types are TypeErrors, out-of-range values RangeErrors ----

std::string ArgName(size_t i, const char *what) {
  return "argument " + std::to_string(i + 1) + " (" + what + ")";
}

int64_t ArgInt(const Napi::CallbackInfo &info, size_t i, const char *what, int64_t lo, int64_t hi) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber()) ThrowType(env, ArgName(i, what) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)))
    ThrowType(env, ArgName(i, what) + " must be an integer");
  int64_t v = static_cast<int64_t>(d);
  if (v < lo || v > hi)
    ThrowRange(env, ArgName(i, what) + " must be in " + std::to_string(lo) + ".." + std::to_string(hi));
  return v;
}

int ArgFd(const Napi::CallbackInfo &info, size_t i) {
  return static_cast<int>(ArgInt(info, i, "fd", 0, INT32_MAX));
}

std::string ArgString(const Napi::CallbackInfo &info, size_t i, const char *what) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsString()) ThrowType(env, ArgName(i, what) + " must be a string");
  std::string s = info[i].As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) ThrowType(env, ArgName(i, what) + " must not contain NUL");
  return s;
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo &info, size_t i, const char *what) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsBuffer()) ThrowType(env, ArgName(i, what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

bool HasArg(const Napi::CallbackInfo &info, size_t i) {
  return i < info.Length() && !info[i].IsUndefined() && !info[i].IsNull();
}

// Optional options object: absent/undefined is {}; anything else but an object is a TypeError.
Napi::Object ArgOptions(const Napi::CallbackInfo &info, size_t i) {
  Napi::Env env = info.Env();
  if (!HasArg(info, i)) return Napi::Object::New(env);
  if (!info[i].IsObject() || info[i].IsArray() || info[i].IsBuffer())
    ThrowType(env, ArgName(i, "options") + " must be an object");
  return info[i].As<Napi::Object>();
}

bool OptHas(const Napi::Object &o, const char *key) {
  if (!o.Has(key)) return false;
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

int64_t OptInt(const Napi::Object &o, const char *key, int64_t dflt, int64_t lo, int64_t hi) {
  Napi::Env env = o.Env();
  if (!OptHas(o, key)) return dflt;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) ThrowType(env, std::string("option '") + key + "' must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)))
    ThrowType(env, std::string("option '") + key + "' must be an integer");
  int64_t n = static_cast<int64_t>(d);
  if (n < lo || n > hi)
    ThrowRange(env, std::string("option '") + key + "' must be in " + std::to_string(lo) + ".." + std::to_string(hi));
  return n;
}

std::string OptString(const Napi::Object &o, const char *key) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  if (!v.IsString()) ThrowType(env, std::string("option '") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> OptBuffer(const Napi::Object &o, const char *key) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  if (!v.IsBuffer()) ThrowType(env, std::string("option '") + key + "' must be a Buffer");
  return v.As<Napi::Buffer<uint8_t>>();
}

Napi::Buffer<uint8_t> CopyBuffer(Napi::Env env, const void *data, size_t len) {
  return Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t *>(data), len);
}

// ---- map geometry from the kernel, so buffers are always the size the kernel reads/writes ----

bool IsPerCpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

struct MapGeometry {
  bpf_map_info info;
  size_t key_size;
  size_t value_size;  // per-CPU maps: round_up(value_size, 8) * possible CPUs
};

// What kind of BPF object an fd is ("bpf-map", "bpf-prog", "bpf-link"), from its anon inode name.
// The kernel names a new link "bpf_link" but one reopened from a pin "bpf-link": '_' reads as '-'.
std::string FdKind(int fd) {
  char path[64], target[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n < 0) return "";
  target[n] = '\0';
  const char *prefix = "anon_inode:";
  std::string kind = strncmp(target, prefix, strlen(prefix)) == 0 ? target + strlen(prefix) : target;
  for (char &c : kind)
    if (c == '_') c = '-';
  return kind;
}

// bpf_obj_get_info_by_fd for one kind of object: any BPF fd answers, each with its own struct, so
// the fd's kind ("bpf-map", "bpf-prog", "bpf-link") is checked before the struct is believed.
template <typename Info>
Info GetInfo(Napi::Env env, int fd, const char *kind) {
  Info out{};
  uint32_t len = sizeof(out);
  BeginCall();
  if (bpf_obj_get_info_by_fd(fd, &out, &len)) ThrowErrno(env, errno, "bpf_obj_get_info_by_fd");
  std::string actual = FdKind(fd);
  if (actual != kind)
    ThrowErrno(env, EINVAL, "fd " + std::to_string(fd) + " is not a " + kind + " (" + actual + ")");
  return out;
}

MapGeometry GetGeometry(Napi::Env env, int fd) {
  MapGeometry g{};
  g.info = GetInfo<bpf_map_info>(env, fd, "bpf-map");
  g.key_size = g.info.key_size;
  g.value_size = g.info.value_size;
  if (IsPerCpu(g.info.type)) {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu < 0) ThrowErrno(env, ncpu, "libbpf_num_possible_cpus");
    g.value_size = ((g.value_size + 7) / 8 * 8) * static_cast<size_t>(ncpu);
  }
  return g;
}

void CheckKey(Napi::Env env, const MapGeometry &g, const Napi::Buffer<uint8_t> &key) {
  if (key.Length() != g.key_size)
    ThrowRange(env, "key is " + std::to_string(key.Length()) + " bytes, the map's key is " +
                        std::to_string(g.key_size));
}

// ---- fd-level calls (bpf.h) ----

Napi::Value Close(const Napi::CallbackInfo &info) {
  int fd = ArgFd(info, 0);
  if (close(fd) != 0) ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

Napi::Value Dup(const Napi::CallbackInfo &info) {
  int fd = ArgFd(info, 0);
  int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (n < 0) ThrowErrno(info.Env(), errno, "dup");
  return Napi::Number::New(info.Env(), n);
}

Napi::Value ObjPin(const Napi::CallbackInfo &info) {
  int fd = ArgFd(info, 0);
  std::string path = ArgString(info, 1, "path");
  BeginCall();
  if (bpf_obj_pin(fd, path.c_str())) ThrowErrno(info.Env(), errno, "bpf_obj_pin " + path);
  return info.Env().Undefined();
}

Napi::Value ObjGet(const Napi::CallbackInfo &info) {
  std::string path = ArgString(info, 0, "path");
  BeginCall();
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowErrno(info.Env(), errno, "bpf_obj_get " + path);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value GetFdById(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string kind = ArgString(info, 0, "kind");
  uint32_t id = static_cast<uint32_t>(ArgInt(info, 1, "id", 1, UINT32_MAX));
  BeginCall();
  int fd;
  if (kind == "prog") fd = bpf_prog_get_fd_by_id(id);
  else if (kind == "map") fd = bpf_map_get_fd_by_id(id);
  else if (kind == "link") fd = bpf_link_get_fd_by_id(id);
  else ThrowRange(env, "kind must be 'prog', 'map' or 'link'");
  if (fd < 0) ThrowErrno(env, errno, "bpf_" + kind + "_get_fd_by_id");
  return Napi::Number::New(env, fd);
}

Napi::Value MapInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapGeometry g = GetGeometry(env, ArgFd(info, 0));
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", g.info.id);
  o.Set("type", g.info.type);
  o.Set("name", std::string(g.info.name));
  o.Set("keySize", g.info.key_size);
  o.Set("valueSize", g.info.value_size);
  o.Set("maxEntries", g.info.max_entries);
  o.Set("mapFlags", g.info.map_flags);
  o.Set("btfId", g.info.btf_id);
  return o;
}

Napi::Value ProgInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  bpf_prog_info pi = GetInfo<bpf_prog_info>(env, ArgFd(info, 0), "bpf-prog");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", pi.id);
  o.Set("type", pi.type);
  o.Set("name", std::string(pi.name));
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
  o.Set("tag", std::string(tag));
  o.Set("loadTime", Napi::Number::New(env, static_cast<double>(pi.load_time)));
  o.Set("btfId", pi.btf_id);
  o.Set("runCount", Napi::Number::New(env, static_cast<double>(pi.run_cnt)));
  o.Set("runTimeNs", Napi::Number::New(env, static_cast<double>(pi.run_time_ns)));
  o.Set("verifiedInsns", pi.verified_insns);
  o.Set("xlatedProgLen", pi.xlated_prog_len);
  o.Set("jitedProgLen", pi.jited_prog_len);
  return o;
}

// The ids of the maps a program uses (to find a program's maps again when their pins are gone).
Napi::Value ProgMapIds(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  bpf_prog_info pi = GetInfo<bpf_prog_info>(env, fd, "bpf-prog");
  std::vector<uint32_t> ids(pi.nr_map_ids);
  if (!ids.empty()) {
    bpf_prog_info again = {};
    uint32_t len = sizeof(again);
    again.nr_map_ids = static_cast<uint32_t>(ids.size());
    again.map_ids = reinterpret_cast<uintptr_t>(ids.data());
    if (bpf_obj_get_info_by_fd(fd, &again, &len)) ThrowErrno(env, errno, "bpf_obj_get_info_by_fd");
    ids.resize(std::min<size_t>(ids.size(), again.nr_map_ids));
  }
  Napi::Array a = Napi::Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); i++) a.Set(static_cast<uint32_t>(i), ids[i]);
  return a;
}

Napi::Value LinkInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  bpf_link_info li = GetInfo<bpf_link_info>(env, ArgFd(info, 0), "bpf-link");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", li.id);
  o.Set("type", li.type);
  o.Set("progId", li.prog_id);
  if (li.type == BPF_LINK_TYPE_XDP) o.Set("ifindex", li.xdp.ifindex);
  return o;
}

Napi::Value MapLookup(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  uint64_t flags = static_cast<uint64_t>(ArgInt(info, 2, "flags", 0, UINT32_MAX));
  MapGeometry g = GetGeometry(env, fd);
  CheckKey(env, g, key);
  std::vector<uint8_t> value(g.value_size);
  BeginCall();
  if (bpf_map_lookup_elem_flags(fd, key.Data(), value.data(), flags)) {
    if (errno == ENOENT) return env.Null();
    ThrowErrno(env, errno, "bpf_map_lookup_elem");
  }
  return CopyBuffer(env, value.data(), value.size());
}

Napi::Value MapLookupAndDelete(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  MapGeometry g = GetGeometry(env, fd);
  CheckKey(env, g, key);
  std::vector<uint8_t> value(g.value_size);
  BeginCall();
  if (bpf_map_lookup_and_delete_elem(fd, key.Data(), value.data())) {
    if (errno == ENOENT) return env.Null();
    ThrowErrno(env, errno, "bpf_map_lookup_and_delete_elem");
  }
  return CopyBuffer(env, value.data(), value.size());
}

Napi::Value MapUpdate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  Napi::Buffer<uint8_t> value = ArgBuffer(info, 2, "value");
  uint64_t flags = static_cast<uint64_t>(ArgInt(info, 3, "flags", 0, UINT32_MAX));
  MapGeometry g = GetGeometry(env, fd);
  CheckKey(env, g, key);
  if (value.Length() != g.value_size)
    ThrowRange(env, "value is " + std::to_string(value.Length()) + " bytes, the map's value is " +
                        std::to_string(g.value_size));
  BeginCall();
  if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags)) ThrowErrno(env, errno, "bpf_map_update_elem");
  return env.Undefined();
}

Napi::Value MapDelete(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
  MapGeometry g = GetGeometry(env, fd);
  CheckKey(env, g, key);
  BeginCall();
  if (bpf_map_delete_elem(fd, key.Data())) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowErrno(env, errno, "bpf_map_delete_elem");
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value MapGetNextKey(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  const void *cur = nullptr;
  Napi::Buffer<uint8_t> key;
  if (HasArg(info, 1)) key = ArgBuffer(info, 1, "key");
  MapGeometry g = GetGeometry(env, fd);
  if (HasArg(info, 1)) {
    CheckKey(env, g, key);
    cur = key.Data();
  }
  std::vector<uint8_t> next(g.key_size);
  BeginCall();
  if (bpf_map_get_next_key(fd, cur, next.data())) {
    if (errno == ENOENT) return env.Null();
    ThrowErrno(env, errno, "bpf_map_get_next_key");
  }
  return CopyBuffer(env, next.data(), next.size());
}

// Batch lookup (optionally deleting): returns {keys, values, count, nextBatch|null}.
Napi::Value MapLookupBatchImpl(const Napi::CallbackInfo &info, bool del) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Napi::Buffer<uint8_t> in;
  bool has_in = HasArg(info, 1);
  if (has_in) in = ArgBuffer(info, 1, "batch cursor");
  uint32_t count = static_cast<uint32_t>(ArgInt(info, 2, "count", 1, 1 << 20));
  MapGeometry g = GetGeometry(env, fd);
  // Hash maps use a bucket cursor of key_size; arrays a u32 index: key_size covers both.
  size_t batch_size = std::max<size_t>(g.key_size, sizeof(uint32_t));
  std::vector<uint8_t> in_batch(batch_size), out_batch(batch_size);
  if (has_in) {
    if (in.Length() != batch_size) ThrowRange(env, "batch cursor must be " + std::to_string(batch_size) + " bytes");
    memcpy(in_batch.data(), in.Data(), batch_size);
  }
  std::vector<uint8_t> keys(g.key_size * count), values(g.value_size * count);
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = 0, .flags = 0);
  BeginCall();
  int err = del ? bpf_map_lookup_and_delete_batch(fd, has_in ? in_batch.data() : nullptr, out_batch.data(),
                                                  keys.data(), values.data(), &count, &opts)
                : bpf_map_lookup_batch(fd, has_in ? in_batch.data() : nullptr, out_batch.data(), keys.data(),
                                       values.data(), &count, &opts);
  bool done = false;
  if (err) {
    if (errno != ENOENT) ThrowErrno(env, errno, del ? "bpf_map_lookup_and_delete_batch" : "bpf_map_lookup_batch");
    done = true;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", count);
  o.Set("keys", CopyBuffer(env, keys.data(), g.key_size * count));
  o.Set("values", CopyBuffer(env, values.data(), g.value_size * count));
  o.Set("nextBatch", done ? env.Null() : CopyBuffer(env, out_batch.data(), batch_size).As<Napi::Value>());
  return o;
}

Napi::Value MapLookupBatch(const Napi::CallbackInfo &info) { return MapLookupBatchImpl(info, false); }
Napi::Value MapLookupAndDeleteBatch(const Napi::CallbackInfo &info) { return MapLookupBatchImpl(info, true); }

Napi::Value MapUpdateBatch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Napi::Buffer<uint8_t> keys = ArgBuffer(info, 1, "keys");
  Napi::Buffer<uint8_t> values = ArgBuffer(info, 2, "values");
  uint64_t flags = static_cast<uint64_t>(ArgInt(info, 3, "flags", 0, UINT32_MAX));
  MapGeometry g = GetGeometry(env, fd);
  if (g.key_size == 0 || keys.Length() % g.key_size != 0)
    ThrowRange(env, "keys must be a whole number of " + std::to_string(g.key_size) + "-byte keys");
  uint32_t count = static_cast<uint32_t>(keys.Length() / g.key_size);
  if (values.Length() != count * g.value_size)
    ThrowRange(env, "values must be " + std::to_string(count) + " values of " + std::to_string(g.value_size) + " bytes");
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags, .flags = 0);
  BeginCall();
  if (bpf_map_update_batch(fd, keys.Data(), values.Data(), &count, &opts))
    ThrowErrno(env, errno, "bpf_map_update_batch (" + std::to_string(count) + " applied)");
  return Napi::Number::New(env, count);
}

Napi::Value MapDeleteBatch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Napi::Buffer<uint8_t> keys = ArgBuffer(info, 1, "keys");
  MapGeometry g = GetGeometry(env, fd);
  if (g.key_size == 0 || keys.Length() % g.key_size != 0)
    ThrowRange(env, "keys must be a whole number of " + std::to_string(g.key_size) + "-byte keys");
  uint32_t count = static_cast<uint32_t>(keys.Length() / g.key_size);
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = 0, .flags = 0);
  BeginCall();
  if (bpf_map_delete_batch(fd, keys.Data(), &count, &opts))
    ThrowErrno(env, errno, "bpf_map_delete_batch (" + std::to_string(count) + " applied)");
  return Napi::Number::New(env, count);
}

// bpf_map_create(type, name, key_size, value_size, max_entries, {map_flags}) -> fd (e.g. a new inner map).
Napi::Value MapCreate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int type = static_cast<int>(ArgInt(info, 0, "map type", 1, INT32_MAX));
  std::string name = ArgString(info, 1, "name");
  uint32_t key_size = static_cast<uint32_t>(ArgInt(info, 2, "key size", 0, UINT32_MAX));
  uint32_t value_size = static_cast<uint32_t>(ArgInt(info, 3, "value size", 0, UINT32_MAX));
  uint32_t max_entries = static_cast<uint32_t>(ArgInt(info, 4, "max entries", 0, UINT32_MAX));
  uint32_t flags = static_cast<uint32_t>(ArgInt(info, 5, "flags", 0, UINT32_MAX));
  if (name.size() >= BPF_OBJ_NAME_LEN) ThrowRange(env, "map name must be shorter than " + std::to_string(BPF_OBJ_NAME_LEN));
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
  BeginCall();
  int fd = bpf_map_create(static_cast<enum bpf_map_type>(type), name.c_str(), key_size, value_size, max_entries, &opts);
  if (fd < 0) ThrowErrno(env, errno, "bpf_map_create");
  return Napi::Number::New(env, fd);
}

// bpf_link_create(prog, target, attach_type, {flags}) — XDP takes an ifindex as the target.
Napi::Value LinkCreate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int prog_fd = ArgFd(info, 0);
  int target = static_cast<int>(ArgInt(info, 1, "target fd or ifindex", 1, INT32_MAX));
  int attach_type = static_cast<int>(ArgInt(info, 2, "attach type", 0, __MAX_BPF_ATTACH_TYPE - 1));
  uint32_t flags = static_cast<uint32_t>(ArgInt(info, 3, "flags", 0, UINT32_MAX));
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
  BeginCall();
  int fd = bpf_link_create(prog_fd, target, static_cast<enum bpf_attach_type>(attach_type), &opts);
  if (fd < 0) ThrowErrno(env, errno, "bpf_link_create");
  return Napi::Number::New(env, fd);
}

Napi::Value LinkUpdate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int link_fd = ArgFd(info, 0);
  int prog_fd = ArgFd(info, 1);
  Napi::Object o = ArgOptions(info, 2);
  LIBBPF_OPTS(bpf_link_update_opts, opts);
  opts.old_prog_fd = static_cast<uint32_t>(OptInt(o, "oldProgFd", 0, 0, INT32_MAX));
  opts.flags = static_cast<uint32_t>(OptInt(o, "flags", 0, 0, UINT32_MAX));
  if (opts.old_prog_fd) opts.flags |= BPF_F_REPLACE;
  BeginCall();
  if (bpf_link_update(link_fd, prog_fd, &opts)) ThrowErrno(env, errno, "bpf_link_update");
  return env.Undefined();
}

Napi::Value LinkDetach(const Napi::CallbackInfo &info) {
  int fd = ArgFd(info, 0);
  BeginCall();
  if (bpf_link_detach(fd)) ThrowErrno(info.Env(), errno, "bpf_link_detach");
  return info.Env().Undefined();
}

// BPF_PROG_TEST_RUN: {dataIn, dataSizeOut?, ctxIn?, ctxSizeOut?, repeat?, flags?, cpu?, batchSize?}.
Napi::Value ProgTestRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Napi::Object o = ArgOptions(info, 1);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  Napi::Buffer<uint8_t> data_in, ctx_in;
  if (OptHas(o, "dataIn")) {
    data_in = OptBuffer(o, "dataIn");
    opts.data_in = data_in.Data();
    opts.data_size_in = static_cast<uint32_t>(data_in.Length());
  }
  // XDP may grow the packet into its headroom/tailroom: leave room by default.
  size_t data_out_size = static_cast<size_t>(OptInt(o, "dataSizeOut", opts.data_size_in + 4096, 0, 1 << 24));
  std::vector<uint8_t> data_out(data_out_size);
  if (data_out_size) {
    opts.data_out = data_out.data();
    opts.data_size_out = static_cast<uint32_t>(data_out_size);
  }
  if (OptHas(o, "ctxIn")) {
    ctx_in = OptBuffer(o, "ctxIn");
    opts.ctx_in = ctx_in.Data();
    opts.ctx_size_in = static_cast<uint32_t>(ctx_in.Length());
  }
  size_t ctx_out_size = static_cast<size_t>(OptInt(o, "ctxSizeOut", opts.ctx_size_in, 0, 1 << 16));
  std::vector<uint8_t> ctx_out(ctx_out_size);
  if (ctx_out_size) {
    opts.ctx_out = ctx_out.data();
    opts.ctx_size_out = static_cast<uint32_t>(ctx_out_size);
  }
  opts.repeat = static_cast<int>(OptInt(o, "repeat", 0, 0, INT32_MAX));
  opts.flags = static_cast<uint32_t>(OptInt(o, "flags", 0, 0, UINT32_MAX));
  opts.cpu = static_cast<uint32_t>(OptInt(o, "cpu", 0, 0, UINT32_MAX));
  opts.batch_size = static_cast<uint32_t>(OptInt(o, "batchSize", 0, 0, UINT32_MAX));
  BeginCall();
  if (bpf_prog_test_run_opts(fd, &opts)) ThrowErrno(env, errno, "bpf_prog_test_run_opts");
  Napi::Object r = Napi::Object::New(env);
  r.Set("retval", opts.retval);
  r.Set("duration", opts.duration);
  r.Set("dataOut", CopyBuffer(env, data_out.data(), std::min<size_t>(opts.data_size_out, data_out_size)));
  r.Set("ctxOut", CopyBuffer(env, ctx_out.data(), std::min<size_t>(opts.ctx_size_out, ctx_out_size)));
  return r;
}

// bpf_xdp_query(ifindex): which XDP programs an interface runs, and in which mode (netlink).
Napi::Value XdpQuery(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = static_cast<int>(ArgInt(info, 0, "ifindex", 1, INT32_MAX));
  LIBBPF_OPTS(bpf_xdp_query_opts, opts);
  BeginCall();
  int err = bpf_xdp_query(ifindex, 0, &opts);
  if (err) ThrowErrno(env, err, "bpf_xdp_query");
  Napi::Object o = Napi::Object::New(env);
  o.Set("progId", opts.prog_id);
  o.Set("drvProgId", opts.drv_prog_id);
  o.Set("skbProgId", opts.skb_prog_id);
  o.Set("hwProgId", opts.hw_prog_id);
  o.Set("attachMode", opts.attach_mode);
  return o;
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo &info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) ThrowErrno(info.Env(), n, "libbpf_num_possible_cpus");
  return Napi::Number::New(info.Env(), n);
}

Napi::Value IfNameToIndex(const Napi::CallbackInfo &info) {
  std::string name = ArgString(info, 0, "ifname");
  unsigned idx = if_nametoindex(name.c_str());
  if (!idx) ThrowErrno(info.Env(), errno, "if_nametoindex " + name);
  return Napi::Number::New(info.Env(), idx);
}

Napi::Value IfIndexToName(const Napi::CallbackInfo &info) {
  unsigned idx = static_cast<unsigned>(ArgInt(info, 0, "ifindex", 1, UINT32_MAX));
  char buf[IF_NAMESIZE];
  if (!if_indextoname(idx, buf)) ThrowErrno(info.Env(), errno, "if_indextoname");
  return Napi::String::New(info.Env(), buf);
}

// An interface's hardware address, asked of the calling thread's network namespace (never sysfs,
// which under nsenter still shows the mount namespace's view of another network namespace).
Napi::Value IfHwAddr(const Napi::CallbackInfo &info) {
  std::string name = ArgString(info, 0, "ifname");
  if (name.empty() || name.size() >= IFNAMSIZ) ThrowErrno(info.Env(), EINVAL, "interface name length");
  struct ifreq ifr = {};
  memcpy(ifr.ifr_name, name.c_str(), name.size());
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) ThrowErrno(info.Env(), errno, "socket");
  int rc = ioctl(s, SIOCGIFHWADDR, &ifr);
  int err = errno;
  close(s);
  if (rc) ThrowErrno(info.Env(), err, "SIOCGIFHWADDR " + name);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("type", static_cast<uint32_t>(ifr.ifr_hwaddr.sa_family));
  o.Set("addr", Napi::Buffer<uint8_t>::Copy(info.Env(), reinterpret_cast<uint8_t *>(ifr.ifr_hwaddr.sa_data), 6));
  return o;
}

// flock(2), never blocking: true when taken, false when another open file description holds it.
Napi::Value Flock(const Napi::CallbackInfo &info) {
  int fd = ArgFd(info, 0);
  std::string op = ArgString(info, 1, "op");
  int how = op == "ex" ? LOCK_EX : op == "sh" ? LOCK_SH : op == "un" ? LOCK_UN : -1;
  if (how < 0) ThrowType(info.Env(), ArgName(1, "op") + " must be 'ex', 'sh' or 'un'");
  if (flock(fd, how | LOCK_NB) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), errno, "flock");
}

// Network namespace of the calling thread: open one by path, switch to an fd (for ip-netns style use).
Napi::Value NetnsOpen(const Napi::CallbackInfo &info) {
  std::string path = ArgString(info, 0, "path");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(info.Env(), errno, "open " + path);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value NetnsSet(const Napi::CallbackInfo &info) {
  int fd = ArgFd(info, 0);
  if (setns(fd, CLONE_NEWNET)) ThrowErrno(info.Env(), errno, "setns");
  return info.Env().Undefined();
}

Napi::Value SetDebug(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsBoolean()) ThrowType(info.Env(), ArgName(0, "on") + " must be a boolean");
  g_debug = info[0].As<Napi::Boolean>().Value();
  return info.Env().Undefined();
}

// sd_notify(3)'s protocol (stable, documented for reimplementation): one datagram of "KEY=VALUE\n"
// lines to the AF_UNIX socket systemd names in $NOTIFY_SOCKET ('@' = abstract namespace).
// Returns false when the variable is unset (not run by systemd with Type=notify).
Napi::Value SdNotify(const Napi::CallbackInfo &info) {
  std::string state = ArgString(info, 0, "state");
  const char *e = getenv("NOTIFY_SOCKET");
  if (!e || !*e) return Napi::Boolean::New(info.Env(), false);
  std::string where(e);
  if ((where[0] != '/' && where[0] != '@') || where.size() >= sizeof(sockaddr_un::sun_path))
    ThrowErrno(info.Env(), EINVAL, "NOTIFY_SOCKET " + where);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, where.data(), where.size());
  if (sa.sun_path[0] == '@') sa.sun_path[0] = 0;
  socklen_t len = offsetof(sockaddr_un, sun_path) + where.size();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(info.Env(), errno, "socket");
  ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr *>(&sa), len);
  int err = errno;
  close(fd);
  if (n < 0) ThrowErrno(info.Env(), err, "sendto " + where);
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value LastLog(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), g_log); }

// ---- bpf_object: open (a spec), adjust, load; closes on close() or GC ----

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "BpfObject",
                       {
                           InstanceMethod("programs", &BpfObject::Programs),
                           InstanceMethod("maps", &BpfObject::Maps),
                           InstanceMethod("setMapPinPath", &BpfObject::SetMapPinPath),
                           InstanceMethod("reuseMapFd", &BpfObject::ReuseMapFd),
                           InstanceMethod("setMapMaxEntries", &BpfObject::SetMapMaxEntries),
                           InstanceMethod("mapInitialValue", &BpfObject::MapInitialValue),
                           InstanceMethod("setMapInitialValue", &BpfObject::SetMapInitialValue),
                           InstanceMethod("setProgramAutoload", &BpfObject::SetProgramAutoload),
                           InstanceMethod("load", &BpfObject::Load),
                           InstanceMethod("programFd", &BpfObject::ProgramFd),
                           InstanceMethod("mapFd", &BpfObject::MapFd),
                           InstanceMethod("close", &BpfObject::Close),
                           InstanceAccessor("closed", &BpfObject::Closed, nullptr),
                           InstanceAccessor("loaded", &BpfObject::Loaded, nullptr),
                       });
  }

  // new BpfObject(path, {pinRootPath?, objectName?})
  explicit BpfObject(const Napi::CallbackInfo &info) : Napi::ObjectWrap<BpfObject>(info) {
    Napi::Env env = info.Env();
    std::string path = ArgString(info, 0, "path");
    Napi::Object o = ArgOptions(info, 1);
    std::string pin_root, name;
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    if (OptHas(o, "pinRootPath")) {
      pin_root = OptString(o, "pinRootPath");
      opts.pin_root_path = pin_root.c_str();
    }
    if (OptHas(o, "objectName")) {
      name = OptString(o, "objectName");
      opts.object_name = name.c_str();
    }
    BeginCall();
    obj_ = bpf_object__open_file(path.c_str(), &opts);
    int err = libbpf_get_error(obj_);
    if (err) {
      obj_ = nullptr;
      ThrowErrno(env, err, "bpf_object__open_file " + path);
    }
  }

  ~BpfObject() override { Release(); }

 private:
  bpf_object *obj_ = nullptr;
  bool loaded_ = false;

  void Release() {
    if (obj_) bpf_object__close(obj_);
    obj_ = nullptr;
  }

  bpf_object *Obj(Napi::Env env) {
    if (!obj_) {
      Napi::Error e = Napi::Error::New(env, "bpf object is closed");
      e.Set("code", Napi::String::New(env, "ERR_BPF_CLOSED"));
      throw e;
    }
    return obj_;
  }

  bpf_map *FindMap(Napi::Env env, const std::string &name) {
    bpf_map *m = bpf_object__find_map_by_name(Obj(env), name.c_str());
    if (!m) ThrowErrno(env, ENOENT, "bpf_object__find_map_by_name " + name);
    return m;
  }

  bpf_program *FindProgram(Napi::Env env, const std::string &name) {
    bpf_program *p = bpf_object__find_program_by_name(Obj(env), name.c_str());
    if (!p) ThrowErrno(env, ENOENT, "bpf_object__find_program_by_name " + name);
    return p;
  }

  void RequireNotLoaded(Napi::Env env, const char *what) {
    if (loaded_) ThrowErrno(env, EBUSY, std::string(what) + " (object already loaded)");
  }

  Napi::Value Programs(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    bpf_program *p;
    uint32_t i = 0;
    bpf_object__for_each_program(p, Obj(env)) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_program__name(p));
      o.Set("section", bpf_program__section_name(p));
      o.Set("type", static_cast<uint32_t>(bpf_program__type(p)));
      o.Set("expectedAttachType", static_cast<uint32_t>(bpf_program__expected_attach_type(p)));
      o.Set("autoload", bpf_program__autoload(p));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value Maps(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    bpf_map *m;
    uint32_t i = 0;
    bpf_object__for_each_map(m, Obj(env)) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_map__name(m));
      o.Set("type", static_cast<uint32_t>(bpf_map__type(m)));
      o.Set("keySize", bpf_map__key_size(m));
      o.Set("valueSize", bpf_map__value_size(m));
      o.Set("maxEntries", bpf_map__max_entries(m));
      o.Set("mapFlags", bpf_map__map_flags(m));
      const char *pin = bpf_map__pin_path(m);
      o.Set("pinPath", pin ? Napi::String::New(env, pin).As<Napi::Value>() : env.Null());
      o.Set("pinned", bpf_map__is_pinned(m));
      o.Set("internal", bpf_map__is_internal(m));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value SetMapPinPath(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bpf_map *m = FindMap(env, ArgString(info, 0, "map name"));
    RequireNotLoaded(env, "bpf_map__set_pin_path");
    std::string path;
    if (HasArg(info, 1)) path = ArgString(info, 1, "path");
    BeginCall();
    int err = bpf_map__set_pin_path(m, HasArg(info, 1) ? path.c_str() : nullptr);
    if (err) ThrowErrno(env, err, "bpf_map__set_pin_path");
    return env.Undefined();
  }

  Napi::Value ReuseMapFd(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bpf_map *m = FindMap(env, ArgString(info, 0, "map name"));
    int fd = ArgFd(info, 1);
    RequireNotLoaded(env, "bpf_map__reuse_fd");
    BeginCall();
    int err = bpf_map__reuse_fd(m, fd);
    if (err) ThrowErrno(env, err, "bpf_map__reuse_fd");
    return env.Undefined();
  }

  Napi::Value SetMapMaxEntries(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bpf_map *m = FindMap(env, ArgString(info, 0, "map name"));
    uint32_t n = static_cast<uint32_t>(ArgInt(info, 1, "max entries", 1, UINT32_MAX));
    RequireNotLoaded(env, "bpf_map__set_max_entries");
    BeginCall();
    int err = bpf_map__set_max_entries(m, n);
    if (err) ThrowErrno(env, err, "bpf_map__set_max_entries");
    return env.Undefined();
  }

  Napi::Value MapInitialValue(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bpf_map *m = FindMap(env, ArgString(info, 0, "map name"));
    size_t size = 0;
    const void *v = bpf_map__initial_value(m, &size);
    if (!v) return env.Null();
    return CopyBuffer(env, v, size);
  }

  Napi::Value SetMapInitialValue(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bpf_map *m = FindMap(env, ArgString(info, 0, "map name"));
    Napi::Buffer<uint8_t> b = ArgBuffer(info, 1, "value");
    RequireNotLoaded(env, "bpf_map__set_initial_value");
    BeginCall();
    int err = bpf_map__set_initial_value(m, b.Data(), b.Length());
    if (err) ThrowErrno(env, err, "bpf_map__set_initial_value");
    return env.Undefined();
  }

  Napi::Value SetProgramAutoload(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bpf_program *p = FindProgram(env, ArgString(info, 0, "program name"));
    if (info.Length() < 2 || !info[1].IsBoolean()) ThrowType(env, ArgName(1, "autoload") + " must be a boolean");
    RequireNotLoaded(env, "bpf_program__set_autoload");
    BeginCall();
    int err = bpf_program__set_autoload(p, info[1].As<Napi::Boolean>().Value());
    if (err) ThrowErrno(env, err, "bpf_program__set_autoload");
    return env.Undefined();
  }

  Napi::Value Load(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bpf_object *o = Obj(env);
    RequireNotLoaded(env, "bpf_object__load");
    BeginCall();
    int err = bpf_object__load(o);
    if (err) ThrowErrno(env, err, "bpf_object__load");
    loaded_ = true;
    return env.Undefined();
  }

  // The fds stay owned by the object: callers dup() what must outlive it.
  Napi::Value ProgramFd(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bpf_program *p = FindProgram(env, ArgString(info, 0, "program name"));
    int fd = bpf_program__fd(p);
    if (fd < 0) ThrowErrno(env, fd, "bpf_program__fd (not loaded)");
    return Napi::Number::New(env, fd);
  }

  Napi::Value MapFd(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bpf_map *m = FindMap(env, ArgString(info, 0, "map name"));
    int fd = bpf_map__fd(m);
    if (fd < 0) ThrowErrno(env, fd, "bpf_map__fd (not created)");
    return Napi::Number::New(env, fd);
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    Release();
    return info.Env().Undefined();
  }

  Napi::Value Closed(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), obj_ == nullptr); }
  Napi::Value Loaded(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), loaded_); }
};

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
// Exported under the C name, so TS and C cannot disagree on spelling.
#define CONST(x) c.Set(#x, static_cast<uint32_t>(x))
  CONST(BPF_XDP);
  CONST(BPF_PROG_TYPE_XDP);
  CONST(BPF_LINK_TYPE_XDP);
  CONST(XDP_FLAGS_UPDATE_IF_NOEXIST);
  CONST(XDP_FLAGS_SKB_MODE);
  CONST(XDP_FLAGS_DRV_MODE);
  CONST(XDP_FLAGS_HW_MODE);
  CONST(XDP_ATTACHED_NONE);
  CONST(XDP_ATTACHED_DRV);
  CONST(XDP_ATTACHED_SKB);
  CONST(XDP_ATTACHED_HW);
  CONST(XDP_ATTACHED_MULTI);
  CONST(BPF_ANY);
  CONST(BPF_NOEXIST);
  CONST(BPF_EXIST);
  CONST(BPF_F_LOCK);
  CONST(BPF_F_TEST_RUN_ON_CPU);
  CONST(BPF_F_TEST_XDP_LIVE_FRAMES);
  CONST(BPF_MAP_TYPE_HASH);
  CONST(BPF_MAP_TYPE_ARRAY);
  CONST(BPF_MAP_TYPE_PERCPU_HASH);
  CONST(BPF_MAP_TYPE_PERCPU_ARRAY);
  CONST(BPF_MAP_TYPE_DEVMAP);
  CONST(BPF_MAP_TYPE_DEVMAP_HASH);
  CONST(BPF_MAP_TYPE_LRU_HASH);
  CONST(BPF_MAP_TYPE_LRU_PERCPU_HASH);
  CONST(BPF_MAP_TYPE_ARRAY_OF_MAPS);
#undef CONST
  return c;
}

// Wraps a function so that C++ exceptions other than Napi::Error never escape into Node.
template <Napi::Value (*F)(const Napi::CallbackInfo &)>
Napi::Value Guard(const Napi::CallbackInfo &info) {
  try {
    return F(info);
  } catch (const Napi::Error &) {
    throw;
  } catch (const std::bad_alloc &) {
    throw Napi::Error::New(info.Env(), "out of memory");
  } catch (const std::exception &e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

template <Napi::Value (*F)(const Napi::CallbackInfo &)>
void Export(Napi::Env env, Napi::Object exports, const char *name) {
  exports.Set(name, Napi::Function::New<Guard<F>>(env, name));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  qs_libbpf_stderr = stderr;
  libbpf_set_print(LibbpfPrint);
  exports.Set("BpfObject", BpfObject::Init(env));
  Export<Close>(env, exports, "close");
  Export<Dup>(env, exports, "dup");
  Export<ObjPin>(env, exports, "objPin");
  Export<ObjGet>(env, exports, "objGet");
  Export<GetFdById>(env, exports, "getFdById");
  Export<MapInfo>(env, exports, "mapInfo");
  Export<ProgInfo>(env, exports, "progInfo");
  Export<ProgMapIds>(env, exports, "progMapIds");
  Export<LinkInfo>(env, exports, "linkInfo");
  Export<MapLookup>(env, exports, "mapLookup");
  Export<MapLookupAndDelete>(env, exports, "mapLookupAndDelete");
  Export<MapUpdate>(env, exports, "mapUpdate");
  Export<MapDelete>(env, exports, "mapDelete");
  Export<MapGetNextKey>(env, exports, "mapGetNextKey");
  Export<MapLookupBatch>(env, exports, "mapLookupBatch");
  Export<MapLookupAndDeleteBatch>(env, exports, "mapLookupAndDeleteBatch");
  Export<MapUpdateBatch>(env, exports, "mapUpdateBatch");
  Export<MapDeleteBatch>(env, exports, "mapDeleteBatch");
  Export<MapCreate>(env, exports, "mapCreate");
  Export<LinkCreate>(env, exports, "linkCreate");
  Export<LinkUpdate>(env, exports, "linkUpdate");
  Export<LinkDetach>(env, exports, "linkDetach");
  Export<ProgTestRun>(env, exports, "progTestRun");
  Export<XdpQuery>(env, exports, "xdpQuery");
  Export<NumPossibleCpus>(env, exports, "numPossibleCpus");
  Export<IfNameToIndex>(env, exports, "ifNameToIndex");
  Export<IfIndexToName>(env, exports, "ifIndexToName");
  Export<IfHwAddr>(env, exports, "ifHwAddr");
  Export<Flock>(env, exports, "flock");
  Export<NetnsOpen>(env, exports, "netnsOpen");
  Export<NetnsSet>(env, exports, "netnsSet");
  Export<SetDebug>(env, exports, "setDebug");
  Export<LastLog>(env, exports, "lastLog");
  Export<SdNotify>(env, exports, "sdNotify");
  exports.Set("libbpfVersion", Napi::String::New(env, std::to_string(libbpf_major_version()) + "." +
                                                          std::to_string(libbpf_minor_version())));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(quicsteer, Init)
