#include "core/config.h"

#include <toml++/toml.h>
#include <set>

#include "core/files.h"
#include "core/text.h"

namespace tether {
namespace {

// Sections that later parts of tether read; accepted here, not validated.
const std::set<std::string> kOtherSections = {
    "server",  "keys",      "identity", "resources", "actions",
    "tickets", "approvals", "proxy",    "secrets",   "run"};

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  Error At(const toml::node& node, const std::string& message) const {
    const toml::source_region& src = node.source();
    return MakeError("invalid_config",
                     name_ + ":" + std::to_string(src.begin.line) + ":" +
                         std::to_string(src.begin.column) + ": " + message);
  }

  // Fails on keys of `table` not in `allowed`.
  Status OnlyKeys(const toml::table& table,
                  const std::set<std::string>& allowed,
                  const std::string& where) const {
    for (const auto& [key, node] : table) {
      if (!allowed.count(std::string(key.str()))) {
        return At(node,
                  "unknown key `" + std::string(key.str()) + "` in " + where);
      }
    }
    return {};
  }

  template <typename T>
  Status Get(const toml::table& table, const char* key, T& out,
             const std::string& where) const {
    const toml::node* node = table.get(key);
    if (!node) return {};
    if constexpr (std::is_same_v<T, std::string>) {
      if (!node->is_string())
        return At(*node, where + "." + key + " must be a string");
      out = node->as_string()->get();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!node->is_boolean())
        return At(*node, where + "." + key + " must be true or false");
      out = node->as_boolean()->get();
    } else if constexpr (std::is_integral_v<T>) {
      if (!node->is_integer())
        return At(*node, where + "." + key + " must be an integer");
      std::int64_t v = node->as_integer()->get();
      if (v < 0) return At(*node, where + "." + key + " must not be negative");
      out = static_cast<T>(v);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      const toml::array* arr = node->as_array();
      if (!arr)
        return At(*node, where + "." + key + " must be a list of strings");
      out.clear();
      for (const toml::node& item : *arr) {
        if (!item.is_string())
          return At(item, where + "." + key + " must be a list of strings");
        out.push_back(item.as_string()->get());
      }
    }
    return {};
  }

 private:
  std::string name_;
};

Status ReadSink(const Reader& r, const toml::table& t, SinkConfig& s) {
  if (Status st = r.OnlyKeys(t,
                             {"type", "name", "path", "max_bytes", "max_files",
                              "url", "headers", "timeout_ms", "ca_file"},
                             "[[audit.sinks]]");
      !st) {
    return st;
  }
  for (Status st :
       {r.Get(t, "type", s.type, "sink"), r.Get(t, "name", s.name, "sink"),
        r.Get(t, "path", s.path, "sink"),
        r.Get(t, "max_bytes", s.max_bytes, "sink"),
        r.Get(t, "max_files", s.max_files, "sink"),
        r.Get(t, "url", s.url, "sink"),
        r.Get(t, "timeout_ms", s.timeout_ms, "sink"),
        r.Get(t, "ca_file", s.ca_file, "sink")}) {
    if (!st) return st;
  }
  if (const toml::node* h = t.get("headers")) {
    const toml::table* ht = h->as_table();
    if (!ht) return r.At(*h, "sink headers must be a table of strings");
    for (const auto& [k, v] : *ht) {
      if (!v.is_string()) return r.At(v, "sink headers must be strings");
      s.headers[std::string(k.str())] = v.as_string()->get();
    }
  }
  if (s.type == "file") {
    if (s.path.empty()) return r.At(t, "a file sink needs `path`");
    if (s.name.empty()) s.name = "file:" + s.path;
  } else if (s.type == "webhook") {
    if (s.url.empty()) return r.At(t, "a webhook sink needs `url`");
    if (s.name.empty()) s.name = "webhook:" + s.url;
  } else {
    return r.At(t, "sink `type` must be \"file\" or \"webhook\"");
  }
  if (s.max_files < 1) return r.At(t, "sink max_files must be at least 1");
  if (s.records != "events" && s.records != "checkpoints") {
    return r.At(t, "sink `records` must be \"events\" or \"checkpoints\"");
  }
  if (s.records == "checkpoints") s.name += "#checkpoints";
  return {};
}

// tether.toml must be ASCII (non-ASCII text in strings is written as
// \uXXXX escapes). toml++ 3.3 reaches an "unreachable" branch, undefined
// behaviour, on some non-ASCII characters in malformed input; ASCII input
// never gets there. Returns the offset of the first non-ASCII byte, or npos.
std::size_t FirstNonAscii(std::string_view t) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (static_cast<unsigned char>(t[i]) >= 0x80) return i;
  }
  return std::string_view::npos;
}

}  // namespace

Result<Config> ParseConfig(std::string_view text, const std::string& name) {
  if (std::size_t bad = FirstNonAscii(text); bad != std::string_view::npos) {
    LineCol lc = ComputeLineCol(text, bad);
    return MakeError("invalid_config",
                     name + ":" + std::to_string(lc.line) + ":" +
                         std::to_string(lc.column) +
                         ": the configuration must be ASCII; write other "
                         "characters in strings as \\uXXXX escapes");
  }
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    return MakeError("invalid_config", name + ":" + std::to_string(begin.line) +
                                           ":" + std::to_string(begin.column) +
                                           ": " + std::string(e.description()));
  }
  Reader r(name);
  Config c;
  c.source = name;
  for (const auto& [key, node] : root) {
    std::string k(key.str());
    if (k == "store" || k == "audit") continue;
    if (!kOtherSections.count(k)) {
      return r.At(node, "unknown section or key `" + k + "`");
    }
  }
  if (const toml::node* store = root.get("store")) {
    const toml::table* t = store->as_table();
    if (!t) return r.At(*store, "[store] must be a table");
    if (Status s = r.OnlyKeys(*t, {"data_dir"}, "[store]"); !s)
      return s.error();
    if (Status s = r.Get(*t, "data_dir", c.data_dir, "store"); !s)
      return s.error();
    if (c.data_dir.empty())
      return r.At(*store, "store.data_dir must not be empty");
  }
  if (const toml::node* audit = root.get("audit")) {
    const toml::table* t = audit->as_table();
    if (!t) return r.At(*audit, "[audit] must be a table");
    AuditConfig& a = c.audit;
    if (Status s = r.OnlyKeys(*t,
                              {"checkpoint_every", "checkpoint_seconds",
                               "hmac_fields", "default_redact_patterns",
                               "redact_patterns", "witness_file", "sinks"},
                              "[audit]");
        !s) {
      return s.error();
    }
    for (Status s :
         {r.Get(*t, "checkpoint_every", a.checkpoint_every, "audit"),
          r.Get(*t, "checkpoint_seconds", a.checkpoint_seconds, "audit"),
          r.Get(*t, "hmac_fields", a.hmac_fields, "audit"),
          r.Get(*t, "default_redact_patterns", a.default_redact_patterns,
                "audit"),
          r.Get(*t, "redact_patterns", a.redact_patterns, "audit"),
          r.Get(*t, "witness_file", a.witness_file, "audit")}) {
      if (!s) return s.error();
    }
    if (a.checkpoint_every == 0) {
      return r.At(*t->get("checkpoint_every"),
                  "audit.checkpoint_every must be at least 1");
    }
    if (a.checkpoint_seconds == 0) {
      return r.At(*t->get("checkpoint_seconds"),
                  "audit.checkpoint_seconds must be at least 1");
    }
    if (const toml::node* sinks = t->get("sinks")) {
      const toml::array* arr = sinks->as_array();
      if (!arr)
        return r.At(*sinks, "audit.sinks must be [[audit.sinks]] tables");
      for (const toml::node& item : *arr) {
        const toml::table* st = item.as_table();
        if (!st) return r.At(item, "each audit sink must be a table");
        SinkConfig sink;
        if (Status s = ReadSink(r, *st, sink); !s) return s.error();
        a.sinks.push_back(std::move(sink));
      }
    }
  }
  return c;
}

Result<Config> LoadConfig(const std::string& path) {
  auto text = ReadFile(path, 1024 * 1024);
  if (!text) return MakeError("invalid_config", text.error().message);
  return ParseConfig(*text, path);
}

}  // namespace tether
