#include "audit/export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "audit/log.h"
#include "core/crypto.h"

namespace tether::audit {

FileSink::FileSink(std::string name, std::string path, std::uint64_t max_bytes,
                   int max_files)
    : name_(std::move(name)),
      path_(std::move(path)),
      max_bytes_(max_bytes),
      max_files_(max_files < 1 ? 1 : max_files) {}

Status FileSink::Rotate() {
  std::string oldest = path_ + "." + std::to_string(max_files_);
  ::unlink(oldest.c_str());
  for (int i = max_files_ - 1; i >= 1; --i) {
    std::string from = path_ + "." + std::to_string(i);
    std::string to = path_ + "." + std::to_string(i + 1);
    ::rename(from.c_str(), to.c_str());
  }
  if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0 && errno != ENOENT) {
    return MakeError("sink_error",
                     "cannot rotate `" + path_ + "`: " + std::strerror(errno));
  }
  return {};
}

Status FileSink::Deliver(std::span<const ExportRecord> batch) {
  std::string text;
  for (const ExportRecord& r : batch) {
    text += r.json;
    text += '\n';
  }
  struct stat st;
  if (::stat(path_.c_str(), &st) == 0 && st.st_size > 0 &&
      static_cast<std::uint64_t>(st.st_size) + text.size() > max_bytes_) {
    if (Status s = Rotate(); !s) return s;
  }
  int fd =
      ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError("sink_error",
                     "cannot open `" + path_ + "`: " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return MakeError("sink_error", "cannot write `" + path_ + "`: " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return MakeError("sink_error", "cannot sync `" + path_ + "`");
  return {};
}

Result<std::unique_ptr<Exporter>> Exporter::Start(ExporterOptions options,
                                                  std::unique_ptr<Sink> sink) {
  std::unique_ptr<Exporter> e(
      new Exporter(std::move(options), std::move(sink)));
  auto db = store::SqliteDb::Open(e->options_.db_path, e->options_.sqlite);
  if (!db) return db.error();
  e->db_ = std::move(*db);
  if (Status s = MigrateAuditSchema(*e->db_); !s) return s.error();
  if (Status s = e->LoadCursor(); !s) return s.error();
  e->thread_ = std::thread([p = e.get()] { p->Loop(); });
  return e;
}

Exporter::~Exporter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Exporter::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

bool Exporter::WaitDelivered(std::uint64_t seq,
                             std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return delivered_cv_.wait_for(lock, timeout,
                                [&] { return delivered_ >= seq; });
}

const std::string& Exporter::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

Status Exporter::LoadCursor() {
  auto stmt = db_->Prepare("SELECT seq FROM sink_cursors WHERE name = ?");
  if (!stmt) return stmt.error();
  stmt->Bind(1, sink_->name());
  auto row = stmt->Step();
  if (!row) return row.error();
  if (*row) delivered_ = static_cast<std::uint64_t>(stmt->ColumnInt(0));
  return {};
}

Status Exporter::SaveCursor(std::uint64_t seq) {
  auto stmt = db_->Prepare(
      "INSERT INTO sink_cursors (name, seq) VALUES (?, ?) "
      "ON CONFLICT(name) DO UPDATE SET seq = excluded.seq");
  if (!stmt) return stmt.error();
  stmt->Bind(1, sink_->name()).Bind(2, static_cast<std::int64_t>(seq));
  return stmt->Run();
}

void Exporter::Loop() {
  auto backoff = options_.min_backoff;
  std::vector<ExportRecord> batch;
  while (true) {
    batch.clear();
    Status read;
    {
      bool checkpoints =
          options_.source == ExporterOptions::Source::kCheckpoints;
      auto stmt = db_->Prepare(
          checkpoints
              ? "SELECT seq, head, time_ms, key_id, signature FROM checkpoints "
                "WHERE seq > ? ORDER BY seq LIMIT ?"
              : "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq "
                "LIMIT ?");
      if (stmt) {
        stmt->Bind(1, static_cast<std::int64_t>(delivered_.load()));
        stmt->Bind(2, static_cast<std::int64_t>(options_.batch));
        while (true) {
          auto row = stmt->Step();
          if (!row) {
            read = row.error();
            break;
          }
          if (!*row) break;
          ExportRecord r;
          r.seq = static_cast<std::uint64_t>(stmt->ColumnInt(0));
          if (checkpoints) {
            r.json = "{\"seq\":" + std::to_string(r.seq) + ",\"head\":\"" +
                     HexEncode(stmt->ColumnBlob(1)) +
                     "\",\"time_ms\":" + std::to_string(stmt->ColumnInt(2)) +
                     ",\"key_id\":\"" + std::string(stmt->ColumnText(3)) +
                     "\",";
            if (!options_.public_key_hex.empty()) {
              r.json += "\"public_key\":\"" + options_.public_key_hex + "\",";
            }
            r.json +=
                "\"signature\":\"" + HexEncode(stmt->ColumnBlob(4)) + "\"}";
            batch.push_back(std::move(r));
            continue;
          }
          std::string_view body = stmt->ColumnText(1);
          r.json = "{\"seq\":" + std::to_string(r.seq);
          if (body.size() > 2) {
            r.json += ',';
            r.json.append(body.substr(1));
          } else {
            r.json += '}';
          }
          batch.push_back(std::move(r));
        }
      } else {
        read = stmt.error();
      }
    }
    Status delivered = read;
    if (read && !batch.empty()) delivered = sink_->Deliver(batch);
    if (delivered && !batch.empty()) {
      delivered = SaveCursor(batch.back().seq);
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (delivered && !batch.empty()) {
      delivered_ = batch.back().seq;
      delivered_cv_.notify_all();
    }
    // Stopping: one last pass delivers what was committed meanwhile (no
    // retries: what fails stays behind the cursor for the next start).
    if (stop_) {
      if (!delivered || batch.size() < options_.batch) {
        if (final_pass_done_) return;
        final_pass_done_ = true;
      }
      continue;
    }
    if (!delivered) {
      ++failures_;
      last_error_ = delivered.error().message;
      cv_.wait_for(lock, backoff, [&] { return stop_; });
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = options_.min_backoff;
    if (batch.size() == options_.batch) continue;  // more to read
    cv_.wait_for(lock, options_.poll, [&] { return stop_ || notified_; });
    notified_ = false;
  }
}

}  // namespace tether::audit
