#include "core/entity_ids.h"

#include "core/text.h"

#include <cctype>

namespace tether {
namespace {

Error Bad(const std::string& what, std::string_view value) {
  return MakeError("invalid_request", "`" + std::string(value.substr(0, 200)) +
                                          "` is not a valid " + what);
}

bool RepoPartOk(std::string_view p) {
  if (p.empty() || p.size() > 100 || p == "." || p == "..") return false;
  for (char c : p) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::string> CanonicalRepo(std::string_view repo) {
  std::string r = AsciiLower(repo);
  if (r.size() > 4 && r.ends_with(".git")) r.resize(r.size() - 4);
  // Idempotent: a name still ending in .git would canonicalize again.
  if (r.ends_with(".git")) return Bad("repository (owner/name)", repo);
  std::size_t slash = r.find('/');
  if (slash == std::string::npos ||
      r.find('/', slash + 1) != std::string::npos ||
      !RepoPartOk(std::string_view(r).substr(0, slash)) ||
      !RepoPartOk(std::string_view(r).substr(slash + 1))) {
    return Bad("repository (owner/name)", repo);
  }
  return r;
}

Result<std::string> CanonicalHost(std::string_view host) {
  std::string h = AsciiLower(host);
  if (!h.empty() && h.back() == '.') h.pop_back();
  if (h.empty() || h.size() > 253) return Bad("host name", host);
  std::size_t start = 0;
  while (start <= h.size()) {
    std::size_t dot = h.find('.', start);
    std::string_view label = std::string_view(h).substr(
        start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' ||
        label.back() == '-') {
      return Bad("host name", host);
    }
    for (char c : label) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
            c == '_')) {
        return Bad("host name", host);
      }
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return h;
}

Result<std::string> CanonicalRef(std::string_view ref) {
  std::string r(ref);
  if (!r.starts_with("refs/")) r = "refs/heads/" + r;
  // git check-ref-format, with --normalize refused rather than applied.
  if (r.size() > 1024 || r.ends_with("/") || r.ends_with(".") ||
      r.ends_with(".lock") || r.find("..") != std::string::npos ||
      r.find("//") != std::string::npos || r.find("@{") != std::string::npos ||
      r == "refs/heads/@" || r.find("/.") != std::string::npos) {
    return Bad("git ref", ref);
  }
  for (char c : r) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ' ' || c == '~' || c == '^' || c == ':' ||
        c == '?' || c == '*' || c == '[' || c == '\\') {
      return Bad("git ref", ref);
    }
  }
  // At least refs/<kind>/<name>.
  std::size_t second = r.find('/', 5);
  if (second == std::string::npos || second + 1 >= r.size() || second == 5)
    return Bad("git ref", ref);
  for (std::size_t start = 0; start < r.size();) {
    std::size_t slash = r.find('/', start);
    std::string_view part = std::string_view(r).substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.ends_with(".lock")) return Bad("git ref", ref);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return r;
}

bool IsTaskId(std::string_view id) {
  if (id.size() != 25 || id[0] != 't') return false;
  for (char c : id.substr(1)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string RefTask(std::string_view full_ref) {
  constexpr std::string_view kPrefix = "refs/heads/agent/";
  if (!full_ref.starts_with(kPrefix)) return {};
  std::string_view rest = full_ref.substr(kPrefix.size());
  std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) return {};
  std::string_view id = rest.substr(0, slash);
  return IsTaskId(id) ? std::string(id) : std::string();
}

}  // namespace tether
