#include "proxy/routes.h"

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "core/entity_ids.h"
#include "core/files.h"
#include "core/json.h"
#include "core/text.h"

namespace tether::proxy {
namespace {

namespace json = boost::json;

Error Invalid(const std::string& where, const std::string& why) {
  return MakeError("invalid_routes", where + ": " + why);
}

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// "/a/{b}/{c*}" -> segments. The path is what follows the host, so it
// starts with '/'.
Result<std::vector<RouteTable::Segment>> ParseTemplate(
    std::string_view t, const std::string& where) {
  if (t.empty() || t[0] != '/') return Invalid(where, "`path` starts with /");
  std::vector<RouteTable::Segment> out;
  std::size_t i = 1;
  while (i <= t.size()) {
    std::size_t j = t.find('/', i);
    std::string_view seg = t.substr(
        i, j == std::string_view::npos ? std::string_view::npos : j - i);
    RouteTable::Segment s;
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      std::string_view name = seg.substr(1, seg.size() - 2);
      if (!name.empty() && name.back() == '*') {
        if (j != std::string_view::npos)
          return Invalid(where, "`{name*}` must be the last segment");
        s.kind = RouteTable::Segment::kRest;
        name.remove_suffix(1);
      } else {
        s.kind = RouteTable::Segment::kParam;
      }
      if (!ValidName(name)) return Invalid(where, "bad parameter name in path");
      s.text = std::string(name);
    } else {
      if (seg.find_first_of("{}%") != std::string_view::npos)
        return Invalid(where, "path literals may not hold {, } or %");
      s.text = std::string(seg);
    }
    out.push_back(std::move(s));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  // "/" alone is one empty literal segment.
  return out;
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t i = 1;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    parts.push_back(path.substr(
        i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return parts;
}

// Replaces {name} with the parameter's value; false if one is unknown.
bool Expand(std::string_view tmpl,
            const std::map<std::string, std::string, std::less<>>& params,
            std::string& out) {
  out.clear();
  std::size_t i = 0;
  while (i < tmpl.size()) {
    std::size_t open = tmpl.find('{', i);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    std::size_t close = tmpl.find('}', open);
    if (close == std::string_view::npos) return false;
    out.append(tmpl.substr(i, open - i));
    auto it = params.find(tmpl.substr(open + 1, close - open - 1));
    if (it == params.end()) return false;
    out += it->second;
    i = close + 1;
  }
  return true;
}

Result<std::string> RequiredString(const json::object& o, std::string_view k,
                                   const std::string& where) {
  const json::value* v = o.if_contains(k);
  if (!v || !v->is_string() || v->get_string().empty()) {
    return Invalid(where, "`" + std::string(k) + "` must be a string");
  }
  return std::string(v->get_string());
}

}  // namespace

Result<std::shared_ptr<const RouteTable>> RouteTable::Parse(
    std::string_view text, const std::string& name) {
  LineCol at;
  JsonLimits limits;
  limits.max_bytes = 4 * 1024 * 1024;
  auto doc = ParseJson(text, limits, &at);
  if (!doc) {
    return MakeError("invalid_routes", name + ":" + std::to_string(at.line) +
                                           ":" + std::to_string(at.column) +
                                           ": " + doc.error().message);
  }
  if (!doc->is_object()) return Invalid(name, "a route file is an object");
  const json::object& root = doc->get_object();
  for (const auto& [k, v] : root) {
    if (k != "hosts" && k != "routes" && k != "description")
      return Invalid(name, "unknown member `" + std::string(k) + "`");
  }
  auto table = std::make_shared<RouteTable>();
  const json::value* hosts = root.if_contains("hosts");
  const json::value* routes = root.if_contains("routes");
  if (!hosts || !hosts->is_array() || hosts->get_array().empty())
    return Invalid(name, "`hosts` is a non-empty list of host names");
  if (!routes || !routes->is_array())
    return Invalid(name, "`routes` is a list");
  std::vector<Route> parsed;
  std::size_t index = 0;
  for (const json::value& rv : routes->get_array()) {
    std::string where = name + "#" + std::to_string(index++);
    if (!rv.is_object()) return Invalid(where, "a route is an object");
    const json::object& r = rv.get_object();
    for (const auto& [k, v] : r) {
      static const std::set<std::string, std::less<>> kKeys = {
          "method",   "path",    "query", "action",
          "resource", "context", "git",   "description"};
      if (!kKeys.count(k))
        return Invalid(where, "unknown member `" + std::string(k) + "`");
    }
    Route route;
    route.id = where;
    auto method = RequiredString(r, "method", where);
    if (!method) return method.error();
    route.method = *method;
    for (char& c : route.method)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto path = RequiredString(r, "path", where);
    if (!path) return path.error();
    auto segs = ParseTemplate(*path, where);
    if (!segs) return segs.error();
    route.path = std::move(*segs);
    std::set<std::string> params;
    for (const Segment& s : route.path) {
      if (s.kind != Segment::kLiteral && !params.insert(s.text).second)
        return Invalid(where, "parameter `" + s.text + "` appears twice");
    }
    if (const json::value* q = r.if_contains("query")) {
      if (!q->is_object()) return Invalid(where, "`query` is an object");
      for (const auto& [k, v] : q->get_object()) {
        if (!v.is_string()) return Invalid(where, "`query` values are strings");
        route.query[std::string(k)] = std::string(v.get_string());
      }
    }
    auto action = RequiredString(r, "action", where);
    if (!action) return action.error();
    route.action = *action;
    const json::value* res = r.if_contains("resource");
    if (!res || !res->is_object())
      return Invalid(where, "`resource` is {\"type\", \"id\"}");
    auto rtype = RequiredString(res->get_object(), "type", where);
    if (!rtype) return rtype.error();
    auto rid = RequiredString(res->get_object(), "id", where);
    if (!rid) return rid.error();
    route.resource_type = *rtype;
    route.resource_id = *rid;
    std::string probe;
    std::map<std::string, std::string, std::less<>> names;
    for (const std::string& p : params) names[p] = "x";
    if (!Expand(route.resource_id, names, probe))
      return Invalid(where, "the resource id names an unknown parameter");
    if (const json::value* c = r.if_contains("context")) {
      if (!c->is_object()) return Invalid(where, "`context` is an object");
      for (const auto& [k, v] : c->get_object()) {
        if (!v.is_string())
          return Invalid(where, "context sources are strings");
        std::string_view src = v.get_string();
        if (src.rfind("body:", 0) == 0) {
          std::string_view ptr = src.substr(5);
          if (!ptr.empty() && ptr[0] != '/')
            return Invalid(where, "`body:` takes a JSON pointer");
        } else if (src.rfind("query:", 0) != 0 && !Expand(src, names, probe)) {
          return Invalid(where, "context `" + std::string(k) +
                                    "` names an unknown parameter");
        }
        route.context.emplace_back(std::string(k), std::string(src));
      }
    }
    if (const json::value* g = r.if_contains("git")) {
      if (!g->is_string() || g->get_string() != "receive-pack")
        return Invalid(where, "`git` is \"receive-pack\"");
      if (route.action != "git.push")
        return Invalid(where, "a receive-pack route decides `git.push`");
      route.git_receive_pack = true;
    }
    parsed.push_back(std::move(route));
  }
  for (const json::value& h : hosts->get_array()) {
    if (!h.is_string()) return Invalid(name, "`hosts` are strings");
    auto host = CanonicalHost(h.get_string());
    if (!host) return Invalid(name, host.error().message);
    if (table->by_host_.count(*host))
      return Invalid(name, "host `" + *host + "` is listed twice");
    table->by_host_[*host] = parsed;
  }
  return std::shared_ptr<const RouteTable>(std::move(table));
}

Result<std::shared_ptr<const RouteTable>> RouteTable::Load(
    const std::vector<std::string>& paths) {
  auto merged = std::make_shared<RouteTable>();
  for (const std::string& path : paths) {
    auto sources = ReadSources(path, ".json");
    if (!sources)
      return MakeError("invalid_routes", path + ": " + sources.error().message);
    for (const NamedText& s : *sources) {
      auto t = Parse(s.text, s.name);
      if (!t) return t.error();
      for (const auto& [host, routes] : (*t)->by_host_) {
        if (merged->by_host_.count(host)) {
          return MakeError("invalid_routes", s.name + ": host `" + host +
                                                 "` has routes in two files");
        }
        merged->by_host_[host] = routes;
      }
    }
  }
  return std::shared_ptr<const RouteTable>(std::move(merged));
}

bool RouteTable::HasHost(std::string_view host) const {
  return by_host_.find(host) != by_host_.end();
}

std::vector<std::string> RouteTable::Hosts() const {
  std::vector<std::string> out;
  for (const auto& [h, r] : by_host_) out.push_back(h);
  return out;
}

std::vector<std::string> RouteTable::Actions() const {
  std::set<std::string> s;
  for (const auto& [h, routes] : by_host_) {
    for (const Route& r : routes) s.insert(r.action);
  }
  return {s.begin(), s.end()};
}

Result<std::optional<RouteMatch>> RouteTable::Match(
    std::string_view host, std::string_view method, std::string_view path,
    std::string_view query, const json::value* body) const {
  auto it = by_host_.find(host);
  if (it == by_host_.end()) return std::optional<RouteMatch>();
  std::vector<std::string_view> parts = SplitPath(path);
  auto params_query = ParseQueryString(query);
  for (const Route& r : it->second) {
    if (r.method != "*" && r.method != method) continue;
    std::map<std::string, std::string, std::less<>> params;
    bool ok = true;
    std::size_t i = 0;
    for (const Segment& s : r.path) {
      if (s.kind == Segment::kRest) {
        std::string rest;
        for (std::size_t k = i; k < parts.size(); ++k) {
          if (k > i) rest += '/';
          rest += parts[k];
        }
        params[s.text] = rest;
        i = parts.size();
        break;
      }
      if (i >= parts.size()) {
        ok = false;
        break;
      }
      if (s.kind == Segment::kLiteral) {
        ok = parts[i] == s.text;
      } else {
        // A parameter is one non-empty segment without escapes: what
        // policy reads is then exactly what the upstream receives.
        ok = !parts[i].empty() && parts[i].find('%') == std::string_view::npos;
        if (ok) params[s.text] = std::string(parts[i]);
      }
      if (!ok) break;
      ++i;
    }
    if (!ok || i != parts.size()) continue;
    if (!r.query.empty()) {
      if (!params_query) continue;
      bool all = true;
      for (const auto& [k, v] : r.query) {
        auto q = params_query->find(k);
        all = all && q != params_query->end() && q->second == v;
      }
      if (!all) continue;
    }
    RouteMatch m;
    m.route = r.id;
    m.action = r.action;
    m.resource_type = r.resource_type;
    m.git_receive_pack = r.git_receive_pack;
    std::string id;
    (void)Expand(r.resource_id, params, id);
    if (r.resource_type == "Repo") {
      auto c = CanonicalRepo(id);
      if (!c) return MakeError("invalid_request", c.error().message);
      id = std::move(*c);
    } else if (r.resource_type == "Host") {
      auto c = CanonicalHost(id);
      if (!c) return MakeError("invalid_request", c.error().message);
      id = std::move(*c);
    }
    m.resource_id = std::move(id);
    for (const auto& [key, src] : r.context) {
      if (src.rfind("body:", 0) == 0) {
        if (!body) continue;
        boost::system::error_code ec;
        const json::value* v = body->find_pointer(src.substr(5), ec);
        if (!v || ec) continue;
        if (v->is_string() || v->is_bool() || v->is_int64() || v->is_uint64()) {
          m.context[key] = *v;
        }
      } else if (src.rfind("query:", 0) == 0) {
        if (!params_query) continue;
        auto q = params_query->find(src.substr(6));
        if (q != params_query->end()) m.context[key] = q->second;
      } else {
        std::string v;
        if (Expand(src, params, v)) m.context[key] = v;
      }
    }
    return std::optional<RouteMatch>(std::move(m));
  }
  return std::optional<RouteMatch>();
}

}  // namespace tether::proxy
