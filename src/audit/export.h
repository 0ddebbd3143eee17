// Exporting the audit log to sinks: a JSON-lines file with size-based
// rotation, or an HTTP webhook (audit/webhook_sink.h).
//
// Each sink runs in its own thread with its own read connection, reading
// committed records after its cursor, so a slow or failing sink never blocks
// the durable write path. Delivery is at least once: the cursor (table
// sink_cursors) advances only after the sink accepted a batch, and every
// exported record carries its `seq` for de-duplication.
#ifndef TETHER_AUDIT_EXPORT_H_
#define TETHER_AUDIT_EXPORT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "core/result.h"
#include "store/sqlite.h"

namespace tether::audit {

struct ExportRecord {
  std::uint64_t seq = 0;
  std::string json;  // the record as one JSON object, with "seq"
};

class Sink {
 public:
  virtual ~Sink() = default;
  // Stable name; keys the sink's cursor.
  virtual const std::string& name() const = 0;
  // Delivers a batch, in order; an error means none of it counts as
  // delivered (the batch is retried).
  virtual Status Deliver(std::span<const ExportRecord> batch) = 0;
};

// Appends JSON lines to `path`, fsynced per batch. When the file would grow
// past `max_bytes` it is rotated: path → path.1 → path.2 ..., keeping
// `max_files` old files.
class FileSink : public Sink {
 public:
  FileSink(std::string name, std::string path, std::uint64_t max_bytes,
           int max_files);
  const std::string& name() const override { return name_; }
  Status Deliver(std::span<const ExportRecord> batch) override;

 private:
  Status Rotate();
  std::string name_, path_;
  std::uint64_t max_bytes_;
  int max_files_;
};

struct ExporterOptions {
  std::string db_path;
  store::SqliteOptions sqlite;
  // What to export: the records, or the signed checkpoints (for a witness:
  // {"seq", "head", "time_ms", "key_id", "public_key", "signature"}, hex).
  enum class Source { kEvents, kCheckpoints } source = Source::kEvents;
  std::string public_key_hex;  // included in exported checkpoints
  std::size_t batch = 500;
  std::chrono::milliseconds poll{200};
  std::chrono::milliseconds min_backoff{200};
  std::chrono::milliseconds max_backoff{60'000};
};

class Exporter {
 public:
  static Result<std::unique_ptr<Exporter>> Start(ExporterOptions options,
                                                 std::unique_ptr<Sink> sink);
  // Makes one last delivery attempt of what is committed, then stops.
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // New records were committed: look now rather than at the next poll.
  void Notify();
  // Blocks until every record up to `seq` was delivered, or `timeout`.
  bool WaitDelivered(std::uint64_t seq, std::chrono::milliseconds timeout);

  std::uint64_t delivered_seq() const { return delivered_; }
  std::uint64_t failures() const { return failures_; }
  const std::string& last_error() const;

 private:
  Exporter(ExporterOptions options, std::unique_ptr<Sink> sink)
      : options_(std::move(options)), sink_(std::move(sink)) {}
  void Loop();
  Status LoadCursor();
  Status SaveCursor(std::uint64_t seq);

  ExporterOptions options_;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<store::SqliteDb> db_;
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failures_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;             // guarded by mu_
  bool notified_ = false;         // guarded by mu_
  bool final_pass_done_ = false;  // exporter thread only
  std::string last_error_;        // guarded by mu_
  std::condition_variable delivered_cv_;
  std::thread thread_;
};

}  // namespace tether::audit

#endif  // TETHER_AUDIT_EXPORT_H_
