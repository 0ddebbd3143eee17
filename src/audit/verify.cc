#include "audit/verify.h"

#include <boost/json.hpp>
#include <map>

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
  // Records, in order; remember their hashes for the checkpoint check.
  std::map<std::uint64_t, std::string> heads_needed;
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

  auto rows = db.Prepare(
      "SELECT seq, body, hash FROM events WHERE seq >= ? AND seq <= ? "
      "ORDER BY seq");
  if (!rows) return rows.error();
  rows->Bind(1, static_cast<std::int64_t>(from));
  rows->Bind(2,
             options.to ? static_cast<std::int64_t>(*options.to) : INT64_MAX);
  std::map<std::uint64_t, std::string> hash_at;  // only at checkpoints
  std::map<std::uint64_t, bool> want;
  for (const Cp& c : checkpoints) want[c.seq] = true;
  std::uint64_t expected = from;
  while (report.ok) {
    auto row = rows->Step();
    if (!row) return row.error();
    if (!*row) break;
    auto seq = static_cast<std::uint64_t>(rows->ColumnInt(0));
    std::string_view body = rows->ColumnText(1);
    std::string_view stored = rows->ColumnBlob(2);
    if (seq != expected) {
      Fail(report, expected,
           seq > expected ? "record is missing (deleted)"
                          : "unexpected record (inserted)");
      break;
    }
    std::string computed = RecordHash(seq, prev, body);
    if (computed != stored) {
      Fail(report, seq,
           "record does not match its hash (edited, inserted or reordered)");
      break;
    }
    if (want.count(seq)) hash_at[seq] = computed;
    prev = std::move(computed);
    report.last_seq = seq;
    ++report.records;
    ++expected;
  }
  if (!report.ok) return report;

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
    if (!seq || !seq->is_number() || !head || !head->is_string() || !time ||
        !time->is_number() || !sig || !sig->is_string()) {
      return MakeError("invalid_checkpoint",
                       where + ": needs seq, head, time_ms and signature");
    }
    auto h = HexDecode(head->get_string());
    auto s = HexDecode(sig->get_string());
    if (!h || !s) {
      return MakeError("invalid_checkpoint", where + ": bad hex");
    }
    ExternalCheckpoint c;
    c.seq = seq->to_number<std::uint64_t>();
    c.head = std::move(*h);
    c.time_ms = time->to_number<std::int64_t>();
    c.signature = std::move(*s);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace tether::audit
