#include "audit/verify.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <map>
#include <thread>

#include "audit/chain.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/text.h"

namespace tether::audit {
namespace {

bool Fail(VerifyReport& r, std::uint64_t seq, std::string problem) {
  r.ok = false;
  r.first_bad_seq = seq;
  r.problem = std::move(problem);
  return false;
}

struct Chunk {
  std::uint64_t from = 1, to = 0;  // inclusive
  std::string prev;                // hash before `from` (read if empty)
  bool ok = true;
  std::uint64_t first_bad = 0;
  std::string problem;
  std::uint64_t records = 0, last_seq = 0;
  std::map<std::uint64_t, std::string> hash_at;  // at checkpoint seqs
};

// Verifies records [c.from, c.to]: contiguous numbering and every hash.
Status ScanChunk(store::SqliteDb& db, const std::vector<std::uint64_t>& wanted,
                 Chunk& c) {
  if (c.to < c.from) return {};
  // Read through a memory map: no copy from the page cache per page.
  (void)db.Exec("PRAGMA mmap_size=4294967296");
  if (c.prev.empty()) {
    auto before = db.Prepare("SELECT hash FROM events WHERE seq = ?");
    if (!before) return before.error();
    before->Bind(1, static_cast<std::int64_t>(c.from - 1));
    auto row = before->Step();
    if (!row) return row.error();
    if (!*row) {
      c.ok = false;
      c.first_bad = c.from - 1;
      c.problem = "record is missing (deleted)";
      return {};
    }
    c.prev = std::string(before->ColumnBlob(0));
  }
  auto rows = db.Prepare(
      "SELECT seq, body, hash FROM events WHERE seq >= ? AND seq <= ? "
      "ORDER BY seq");
  if (!rows) return rows.error();
  rows->Bind(1, static_cast<std::int64_t>(c.from));
  rows->Bind(2, static_cast<std::int64_t>(c.to));
  auto want = std::lower_bound(wanted.begin(), wanted.end(), c.from);
  unsigned char prev[kHashSize], computed[kHashSize];
  std::size_t n = std::min(c.prev.size(), kHashSize);
  std::memcpy(prev, c.prev.data(), n);
  std::memset(prev + n, 0, kHashSize - n);
  std::string_view prev_view(reinterpret_cast<const char*>(prev), kHashSize);
  std::uint64_t expected = c.from;
  while (true) {
    auto row = rows->Step();
    if (!row) return row.error();
    if (!*row) break;
    auto seq = static_cast<std::uint64_t>(rows->ColumnInt(0));
    if (seq != expected) {
      c.ok = false;
      c.first_bad = expected;
      c.problem = seq > expected ? "record is missing (deleted)"
                                 : "unexpected record (inserted)";
      return {};
    }
    std::string_view stored = rows->ColumnBlob(2);
    RecordHashTo(seq, prev_view, rows->ColumnText(1), computed);
    if (stored.size() != kHashSize ||
        std::memcmp(stored.data(), computed, kHashSize) != 0) {
      c.ok = false;
      c.first_bad = seq;
      c.problem =
          "record does not match its hash (edited, inserted or reordered)";
      return {};
    }
    while (want != wanted.end() && *want < seq) ++want;
    if (want != wanted.end() && *want == seq) {
      c.hash_at[seq] =
          std::string(reinterpret_cast<char*>(computed), kHashSize);
    }
    std::memcpy(prev, computed, kHashSize);
    c.last_seq = seq;
    ++c.records;
    ++expected;
  }
  if (expected <= c.to) {
    // The chunk was meant to reach c.to (the last record at the start).
    c.ok = false;
    c.first_bad = expected;
    c.problem = "record is missing (deleted)";
  }
  return {};
}

}  // namespace

Result<VerifyReport> Verify(store::SqliteDb& db, const VerifyOptions& options) {
  VerifyReport report;
  std::uint64_t from = options.from == 0 ? 1 : options.from;
  // The hash the first record in range chains from.
  std::string prev(kHashSize, '\0');
  if (from > 1) {
    auto before = db.Prepare("SELECT hash FROM events WHERE seq = ?");
    if (!before) return before.error();
    before->Bind(1, static_cast<std::int64_t>(from - 1));
    auto row = before->Step();
    if (!row) return row.error();
    if (!*row) {
      Fail(report, from - 1, "record is missing (the range starts after it)");
      return report;
    }
    prev = std::string(before->ColumnBlob(0));
  }
  auto cps = db.Prepare(
      "SELECT seq, head, time_ms, key_id, signature FROM checkpoints "
      "ORDER BY seq");
  if (!cps) return cps.error();
  struct Cp {
    std::uint64_t seq;
    std::string head, key_id, signature;
    std::int64_t time_ms;
    bool external;
  };
  std::vector<Cp> checkpoints;
  while (true) {
    auto row = cps->Step();
    if (!row) return row.error();
    if (!*row) break;
    checkpoints.push_back(
        Cp{static_cast<std::uint64_t>(cps->ColumnInt(0)),
           std::string(cps->ColumnBlob(1)), std::string(cps->ColumnText(3)),
           std::string(cps->ColumnBlob(4)), cps->ColumnInt(2), false});
  }
  for (const ExternalCheckpoint& e : options.external) {
    checkpoints.push_back(Cp{e.seq, e.head, "", e.signature, e.time_ms, true});
  }

  std::vector<std::uint64_t> wanted;
  for (const Cp& c : checkpoints) wanted.push_back(c.seq);
  std::sort(wanted.begin(), wanted.end());
  auto last = db.Prepare(
      "SELECT coalesce(max(seq), 0) FROM events WHERE seq >= ? AND seq <= ?");
  if (!last) return last.error();
  last->Bind(1, static_cast<std::int64_t>(from));
  last->Bind(2,
             options.to ? static_cast<std::int64_t>(*options.to) : INT64_MAX);
  auto last_row = last->Step();
  if (!last_row) return last_row.error();
  auto last_seq = static_cast<std::uint64_t>(last->ColumnInt(0));

  // Split [from, last_seq] into chunks verified in parallel: each chains
  // from the stored hash before it, and the previous chunk checks that hash.
  unsigned threads = options.threads
                         ? options.threads
                         : std::max(1u, std::thread::hardware_concurrency());
  if (db.options().exclusive || last_seq < from + 50'000) threads = 1;
  std::vector<Chunk> chunks;
  std::uint64_t span = last_seq >= from ? last_seq - from + 1 : 0;
  for (unsigned i = 0; i < threads; ++i) {
    std::uint64_t a = from + span * i / threads;
    std::uint64_t b = from + span * (i + 1) / threads;  // exclusive
    if (a < b || i == 0) {
      Chunk c;
      c.from = a;
      c.to = b ? b - 1 : 0;
      chunks.push_back(std::move(c));
    }
  }
  if (span == 0) chunks.front().to = from - 1;
  chunks.front().prev = prev;
  std::vector<std::thread> workers;
  std::vector<Error> errors(chunks.size());
  std::vector<char> failed(chunks.size(), 0);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    auto work = [&, i] {
      std::unique_ptr<store::SqliteDb> own;
      store::SqliteDb* conn = &db;
      if (i > 0) {
        store::SqliteOptions ro = db.options();
        ro.read_only = true;
        auto opened = store::SqliteDb::Open(db.path(), ro);
        if (!opened) {
          errors[i] = opened.error();
          failed[i] = 1;
          return;
        }
        own = std::move(*opened);
        conn = own.get();
      }
      if (Status s = ScanChunk(*conn, wanted, chunks[i]); !s) {
        errors[i] = s.error();
        failed[i] = 1;
      }
    };
    if (i == 0) continue;
    workers.emplace_back(work);
  }
  {
    // The first chunk on this thread.
    if (Status s = ScanChunk(db, wanted, chunks[0]); !s) {
      errors[0] = s.error();
      failed[0] = 1;
    }
  }
  for (auto& w : workers) w.join();
  std::map<std::uint64_t, std::string> hash_at;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (failed[i]) return errors[i];
    const Chunk& c = chunks[i];
    report.records += c.records;
    if (c.records) report.last_seq = c.last_seq;
    hash_at.insert(c.hash_at.begin(), c.hash_at.end());
    if (!c.ok) {
      Fail(report, c.first_bad, c.problem);
      return report;
    }
  }

  // Checkpoints: each must be signed by a trusted key, and where its record
  // is in range, the record must have the signed head. A checkpoint beyond
  // the last record means the tail was truncated.
  std::uint64_t range_end = options.to ? *options.to : UINT64_MAX;
  for (const Cp& c : checkpoints) {
    std::string msg = CheckpointMessage(c.seq, c.head, c.time_ms);
    bool signed_ok = false;
    for (const std::string& pk : options.public_keys) {
      if (Ed25519Verify(pk, msg, c.signature)) signed_ok = true;
    }
    std::string what = c.external ? "external checkpoint" : "checkpoint";
    if (!signed_ok) {
      Fail(report, c.seq,
           what + " signature does not verify with a trusted key");
      return report;
    }
    ++report.checkpoints;
    if (c.seq < from || c.seq > range_end) continue;
    if (c.seq > report.last_seq && !options.to) {
      Fail(report, report.last_seq + 1,
           "records after " + std::to_string(report.last_seq) +
               " are missing: a " + what + " covers up to " +
               std::to_string(c.seq) + " (tail truncated)");
      return report;
    }
    auto it = hash_at.find(c.seq);
    if (it == hash_at.end()) {
      Fail(report, c.seq, what + " names a record that is missing");
      return report;
    }
    if (it->second != c.head) {
      Fail(report, c.seq,
           what + " head differs from the chain (log replaced or rewritten)");
      return report;
    }
    report.last_checkpoint_seq = std::max(report.last_checkpoint_seq, c.seq);
  }
  return report;
}

Result<std::vector<ExternalCheckpoint>> ParseCheckpointFile(
    std::string_view text) {
  std::vector<ExternalCheckpoint> out;
  for (const auto& [number, line] : SplitLines(text)) {
    if (line.empty()) continue;
    std::string where = "checkpoint line " + std::to_string(number);
    auto j = ParseJson(line);
    if (!j || !j->is_object()) {
      return MakeError("invalid_checkpoint", where + ": not a json object");
    }
    const boost::json::object& o = j->get_object();
    const auto* seq = o.if_contains("seq");
    const auto* head = o.if_contains("head");
    const auto* time = o.if_contains("time_ms");
    const auto* sig = o.if_contains("signature");
    // Integers only, read without exceptions: a file from elsewhere may
    // hold anything.
    auto integer = [](const boost::json::value* v, std::int64_t* out) {
      if (!v) return false;
      if (v->is_int64()) {
        *out = v->get_int64();
        return true;
      }
      if (v->is_uint64() &&
          v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        *out = static_cast<std::int64_t>(v->get_uint64());
        return true;
      }
      return false;
    };
    std::int64_t seq_v = 0, time_v = 0;
    if (!integer(seq, &seq_v) || seq_v < 1 || !head || !head->is_string() ||
        !integer(time, &time_v) || !sig || !sig->is_string()) {
      return MakeError("invalid_checkpoint",
                       where +
                           ": needs integer seq and time_ms, and hex head "
                           "and signature");
    }
    auto h = HexDecode(head->get_string());
    auto s = HexDecode(sig->get_string());
    if (!h || !s || h->size() != kHashSize || s->size() != 64) {
      return MakeError("invalid_checkpoint",
                       where + ": head must be 32 and signature 64 bytes, hex");
    }
    ExternalCheckpoint c;
    c.seq = static_cast<std::uint64_t>(seq_v);
    c.head = std::move(*h);
    c.time_ms = time_v;
    c.signature = std::move(*s);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace tether::audit
