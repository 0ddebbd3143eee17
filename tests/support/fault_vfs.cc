#include "tests/support/fault_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

namespace tether::testing {
namespace {

struct FileData {
  std::string data;     // what reads see
  std::string durable;  // as of the last sync
};

struct State {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<FileData>> files;
  bool crashed = false;
  int write_countdown = 0;  // 0: off
  bool write_sticky = false;
  bool write_failing = false;
  FaultVfs::Fault write_fault = FaultVfs::Fault::kNone;
  int sync_countdown = 0;
  bool sync_sticky = false;
  bool sync_failing = false;
  std::uint64_t syncs = 0, writes = 0;
};

State& S() {
  static State* s = new State();
  return *s;
}

struct File {
  sqlite3_file base;
  std::shared_ptr<FileData>* data;  // heap-held so the struct stays POD
};

FileData& Data(sqlite3_file* f) { return **reinterpret_cast<File*>(f)->data; }

int Close(sqlite3_file* f) {
  delete reinterpret_cast<File*>(f)->data;
  return SQLITE_OK;
}

int Read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  std::lock_guard<std::mutex> lock(S().mu);
  if (S().crashed) return SQLITE_IOERR_READ;
  const std::string& d = Data(f).data;
  auto offset = static_cast<std::size_t>(off);
  std::size_t n = offset < d.size()
                      ? std::min<std::size_t>(static_cast<std::size_t>(amt),
                                              d.size() - offset)
                      : 0;
  if (n) std::memcpy(buf, d.data() + offset, n);
  if (n < static_cast<std::size_t>(amt)) {
    std::memset(static_cast<char*>(buf) + n, 0,
                static_cast<std::size_t>(amt) - n);
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int Write(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.crashed) return SQLITE_IOERR_WRITE;
  ++s.writes;
  if (s.write_countdown > 0 && --s.write_countdown == 0) {
    s.write_failing = true;
  }
  if (s.write_failing) {
    if (!s.write_sticky) s.write_failing = false;
    return s.write_fault == FaultVfs::Fault::kDiskFull ? SQLITE_FULL
                                                       : SQLITE_IOERR_WRITE;
  }
  std::string& d = Data(f).data;
  auto offset = static_cast<std::size_t>(off);
  if (d.size() < offset + static_cast<std::size_t>(amt)) {
    d.resize(offset + static_cast<std::size_t>(amt));
  }
  std::memcpy(d.data() + offset, buf, static_cast<std::size_t>(amt));
  return SQLITE_OK;
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  std::lock_guard<std::mutex> lock(S().mu);
  if (S().crashed) return SQLITE_IOERR_TRUNCATE;
  Data(f).data.resize(static_cast<std::size_t>(size));
  return SQLITE_OK;
}

int Sync(sqlite3_file* f, int) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.crashed) return SQLITE_IOERR_FSYNC;
  ++s.syncs;
  if (s.sync_countdown > 0 && --s.sync_countdown == 0) s.sync_failing = true;
  if (s.sync_failing) {
    if (!s.sync_sticky) s.sync_failing = false;
    return SQLITE_IOERR_FSYNC;
  }
  Data(f).durable = Data(f).data;
  return SQLITE_OK;
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  std::lock_guard<std::mutex> lock(S().mu);
  *size = static_cast<sqlite3_int64>(Data(f).data.size());
  return SQLITE_OK;
}

int Lock(sqlite3_file*, int) { return SQLITE_OK; }
int Unlock(sqlite3_file*, int) { return SQLITE_OK; }
int CheckReservedLock(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int FileControl(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int SectorSize(sqlite3_file*) { return 4096; }
int DeviceCharacteristics(sqlite3_file*) { return 0; }

const sqlite3_io_methods kIoMethods = {
    1,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    // No shared memory (version 1): WAL needs locking_mode=EXCLUSIVE.
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

int Open(sqlite3_vfs*, const char* name, sqlite3_file* f, int, int* out) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.crashed) return SQLITE_IOERR;
  static int anonymous = 0;
  std::string key = name ? name : "anon-" + std::to_string(++anonymous);
  auto& slot = s.files[key];
  if (!slot) slot = std::make_shared<FileData>();
  auto* file = reinterpret_cast<File*>(f);
  file->base.pMethods = &kIoMethods;
  file->data = new std::shared_ptr<FileData>(slot);
  if (out) *out = 0;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int) {
  std::lock_guard<std::mutex> lock(S().mu);
  if (S().crashed) return SQLITE_IOERR_DELETE;
  S().files.erase(name);
  return SQLITE_OK;
}

int Access(sqlite3_vfs*, const char* name, int, int* out) {
  std::lock_guard<std::mutex> lock(S().mu);
  auto it = S().files.find(name);
  *out = it != S().files.end() && !it->second->data.empty();
  return SQLITE_OK;
}

int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  sqlite3_snprintf(n, out, "%s", name);
  return SQLITE_OK;
}

sqlite3_vfs* Default() { return sqlite3_vfs_find(nullptr); }
int Randomness(sqlite3_vfs*, int n, char* out) {
  return Default()->xRandomness(Default(), n, out);
}
int Sleep(sqlite3_vfs*, int us) { return Default()->xSleep(Default(), us); }
int CurrentTime(sqlite3_vfs*, double* t) {
  return Default()->xCurrentTime(Default(), t);
}
int GetLastError(sqlite3_vfs*, int, char*) { return 0; }
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* t) {
  return Default()->xCurrentTimeInt64(Default(), t);
}

}  // namespace

FaultVfs& FaultVfs::Get() {
  static FaultVfs* instance = [] {
    static sqlite3_vfs vfs{};
    vfs.iVersion = 2;
    vfs.szOsFile = sizeof(File);
    vfs.mxPathname = 512;
    vfs.zName = kName;
    vfs.xOpen = Open;
    vfs.xDelete = Delete;
    vfs.xAccess = Access;
    vfs.xFullPathname = FullPathname;
    vfs.xRandomness = Randomness;
    vfs.xSleep = Sleep;
    vfs.xCurrentTime = CurrentTime;
    vfs.xGetLastError = GetLastError;
    vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    sqlite3_vfs_register(&vfs, 0);
    return new FaultVfs();
  }();
  return *instance;
}

void FaultVfs::Crash() {
  std::lock_guard<std::mutex> lock(S().mu);
  S().crashed = true;
}

void FaultVfs::Restart() {
  std::lock_guard<std::mutex> lock(S().mu);
  for (auto& [name, f] : S().files) f->data = f->durable;
  S().crashed = false;
}

void FaultVfs::Reset() {
  std::lock_guard<std::mutex> lock(S().mu);
  S().files.clear();
  S().crashed = false;
  S().write_countdown = S().sync_countdown = 0;
  S().write_failing = S().sync_failing = false;
}

void FaultVfs::FailWrite(int nth, Fault fault, bool sticky) {
  std::lock_guard<std::mutex> lock(S().mu);
  S().write_countdown = nth;
  S().write_fault = fault;
  S().write_sticky = sticky;
  S().write_failing = false;
}

void FaultVfs::FailSync(int nth, bool sticky) {
  std::lock_guard<std::mutex> lock(S().mu);
  S().sync_countdown = nth;
  S().sync_sticky = sticky;
  S().sync_failing = false;
}

void FaultVfs::ClearFaults() {
  std::lock_guard<std::mutex> lock(S().mu);
  S().write_countdown = S().sync_countdown = 0;
  S().write_failing = S().sync_failing = false;
}

std::uint64_t FaultVfs::syncs() const {
  std::lock_guard<std::mutex> lock(S().mu);
  return S().syncs;
}

std::uint64_t FaultVfs::writes() const {
  std::lock_guard<std::mutex> lock(S().mu);
  return S().writes;
}

}  // namespace tether::testing
