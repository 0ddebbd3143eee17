#include "audit/redactor.h"

#include <hs/hs.h>

#include <algorithm>
#include <boost/json.hpp>

namespace tether::audit {

const std::vector<std::string>& DefaultRedactPatterns() {
  static const std::vector<std::string> kPatterns = {
      // GitHub personal, OAuth, user-to-server, server-to-server, refresh
      // tokens and fine-grained personal access tokens.
      R"(gh[pousr]_[A-Za-z0-9]{36,})",
      R"(github_pat_[A-Za-z0-9_]{22,})",
      // AWS access key ids.
      R"((AKIA|ASIA)[0-9A-Z]{16})",
      // Slack tokens.
      R"(xox[abprs]-[A-Za-z0-9-]{10,})",
      // npm tokens.
      R"(npm_[A-Za-z0-9]{36})",
      // PEM private keys, whole blocks.
      R"(-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)",
      // JWTs (task tokens among them): three base64url segments.
      R"(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})",
  };
  return kPatterns;
}

namespace {

struct ScanContext {
  std::vector<std::pair<unsigned long long, unsigned long long>>* hits;
};

int OnMatch(unsigned int, unsigned long long from, unsigned long long to,
            unsigned int, void* ctx) {
  static_cast<ScanContext*>(ctx)->hits->emplace_back(from, to);
  return 0;
}

}  // namespace

Result<std::shared_ptr<const Redactor>> Redactor::Create(
    std::vector<std::string> secrets, std::vector<std::string> patterns) {
  std::shared_ptr<Redactor> r(new Redactor());
  secrets.erase(std::remove(secrets.begin(), secrets.end(), std::string()),
                secrets.end());
  std::sort(secrets.begin(), secrets.end());
  secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
  r->secrets_ = std::move(secrets);
  r->patterns_ = std::move(patterns);
  hs_compile_error_t* err = nullptr;
  if (!r->secrets_.empty()) {
    std::vector<const char*> exprs;
    std::vector<std::size_t> lens;
    std::vector<unsigned> flags, ids;
    for (std::size_t i = 0; i < r->secrets_.size(); ++i) {
      exprs.push_back(r->secrets_[i].data());
      lens.push_back(r->secrets_[i].size());
      flags.push_back(HS_FLAG_SOM_LEFTMOST);
      ids.push_back(static_cast<unsigned>(i));
    }
    hs_database_t* db = nullptr;
    if (hs_compile_lit_multi(exprs.data(), flags.data(), ids.data(),
                             lens.data(), static_cast<unsigned>(exprs.size()),
                             HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
      std::string msg = err ? err->message : "unknown error";
      hs_free_compile_error(err);
      return MakeError("invalid_pattern",
                       "cannot compile the registered secrets: " + msg);
    }
    r->literal_db_ = db;
  }
  if (!r->patterns_.empty()) {
    std::vector<const char*> exprs;
    std::vector<unsigned> flags, ids;
    for (std::size_t i = 0; i < r->patterns_.size(); ++i) {
      exprs.push_back(r->patterns_[i].c_str());
      flags.push_back(HS_FLAG_SOM_LEFTMOST | HS_FLAG_DOTALL);
      ids.push_back(static_cast<unsigned>(i));
    }
    hs_database_t* db = nullptr;
    if (hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                         static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK,
                         nullptr, &db, &err) != HS_SUCCESS) {
      std::string which =
          err && err->expression >= 0
              ? "`" + r->patterns_[static_cast<std::size_t>(err->expression)] +
                    "`"
              : "a pattern";
      std::string msg = err ? err->message : "unknown error";
      hs_free_compile_error(err);
      return MakeError("invalid_pattern",
                       "redaction pattern " + which + ": " + msg);
    }
    r->regex_db_ = db;
  }
  hs_scratch_t* scratch = nullptr;
  for (void* db : {r->literal_db_, r->regex_db_}) {
    if (db && hs_alloc_scratch(static_cast<hs_database_t*>(db), &scratch) !=
                  HS_SUCCESS) {
      return MakeError("invalid_pattern", "cannot allocate scan memory");
    }
  }
  r->prototype_ = scratch;
  return std::shared_ptr<const Redactor>(std::move(r));
}

Redactor::~Redactor() {
  for (void* s : scratch_pool_) hs_free_scratch(static_cast<hs_scratch_t*>(s));
  hs_free_scratch(static_cast<hs_scratch_t*>(prototype_));
  hs_free_database(static_cast<hs_database_t*>(literal_db_));
  hs_free_database(static_cast<hs_database_t*>(regex_db_));
}

void* Redactor::TakeScratch() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!scratch_pool_.empty()) {
      void* s = scratch_pool_.back();
      scratch_pool_.pop_back();
      return s;
    }
  }
  hs_scratch_t* clone = nullptr;
  hs_clone_scratch(static_cast<hs_scratch_t*>(prototype_), &clone);
  return clone;
}

void Redactor::ReturnScratch(void* scratch) const {
  std::lock_guard<std::mutex> lock(mu_);
  scratch_pool_.push_back(scratch);
}

void Redactor::Scan(std::string_view text, std::vector<Range>& ranges) const {
  ranges.clear();
  if (!prototype_ || text.empty()) return;
  std::vector<std::pair<unsigned long long, unsigned long long>> hits;
  ScanContext ctx{&hits};
  void* scratch = TakeScratch();
  for (void* db : {literal_db_, regex_db_}) {
    if (!db) continue;
    hs_scan(static_cast<hs_database_t*>(db), text.data(),
            static_cast<unsigned>(text.size()), 0,
            static_cast<hs_scratch_t*>(scratch), OnMatch, &ctx);
  }
  ReturnScratch(scratch);
  std::sort(hits.begin(), hits.end());
  for (const auto& [from, to] : hits) {
    if (!ranges.empty() && from <= ranges.back().to) {
      ranges.back().to = std::max<std::size_t>(ranges.back().to, to);
    } else {
      ranges.push_back(
          Range{static_cast<std::size_t>(from), static_cast<std::size_t>(to)});
    }
  }
}

std::string Redactor::Redact(std::string_view text) const {
  std::vector<Range> ranges;
  Scan(text, ranges);
  if (ranges.empty()) return std::string(text);
  std::string out;
  std::size_t at = 0;
  for (const Range& r : ranges) {
    out.append(text.substr(at, r.from - at));
    out.append(kRedacted);
    at = r.to;
  }
  out.append(text.substr(at));
  return out;
}

bool Redactor::Matches(std::string_view text) const {
  std::vector<Range> ranges;
  Scan(text, ranges);
  return !ranges.empty();
}

void Redactor::RedactJson(boost::json::value& v) const {
  namespace json = boost::json;
  switch (v.kind()) {
    case json::kind::string: {
      std::string red = Redact(v.get_string());
      if (red != std::string_view(v.get_string())) v = red;
      break;
    }
    case json::kind::array:
      for (json::value& item : v.get_array()) RedactJson(item);
      break;
    case json::kind::object: {
      json::object& o = v.get_object();
      bool rename = false;
      for (json::key_value_pair& kv : o) {
        RedactJson(kv.value());
        rename = rename || Matches(kv.key());
      }
      if (!rename) break;
      json::object out;
      for (json::key_value_pair& kv : o) {
        std::string key = Redact(kv.key());
        // Keys that redact alike keep both values under distinct keys.
        while (out.contains(key)) key += "'";
        out[key] = std::move(kv.value());
      }
      o = std::move(out);
      break;
    }
    default:
      break;
  }
}

}  // namespace tether::audit
