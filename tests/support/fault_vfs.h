// A fault-injecting in-memory SQLite VFS for durability tests, after
// SQLite's own crash-test VFS.
//
// Every file keeps two images: what reads see, and what the last xSync made
// durable. Crash() simulates power loss: from then on every operation fails,
// and Restart() rolls every file back to its durable image, so only what was
// synced survives. Faults can be injected on the Nth write (ENOSPC or EIO)
// and the Nth sync (EIO), once or persistently.
//
// The VFS has no shared memory, so databases on it must be opened with
// locking_mode=EXCLUSIVE (SqliteOptions::exclusive): WAL then keeps its index
// in the connection's heap.
#ifndef TETHER_TESTS_SUPPORT_FAULT_VFS_H_
#define TETHER_TESTS_SUPPORT_FAULT_VFS_H_

#include <cstdint>
#include <string>

namespace tether::testing {

class FaultVfs {
 public:
  enum class Fault { kNone, kDiskFull, kIoError };

  // Registers (once) and returns the process-wide instance, named "fault".
  static FaultVfs& Get();
  static constexpr const char* kName = "fault";

  // Simulated power loss; see the header comment.
  void Crash();
  // Every file back to its last synced image; operations work again.
  void Restart();
  // Removes every file.
  void Reset();

  // The `nth` next write (1 = the very next) fails with `fault`; with
  // `sticky`, every write from then on does.
  void FailWrite(int nth, Fault fault, bool sticky);
  // The `nth` next sync fails with an I/O error.
  void FailSync(int nth, bool sticky);
  void ClearFaults();

  std::uint64_t syncs() const;
  std::uint64_t writes() const;

 private:
  FaultVfs() = default;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_SUPPORT_FAULT_VFS_H_
