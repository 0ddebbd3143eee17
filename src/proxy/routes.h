// Route files: how the proxy turns an HTTP request into the (action,
// resource, context) it asks the authorizer about (docs/proxy.md, "Route
// files"). Data, not code: the shipped files (examples/routes/) map the
// GitHub REST API and git smart HTTP; operators add their own.
//
//   {"hosts": ["api.github.com"],
//    "routes": [
//      {"method": "POST", "path": "/repos/{owner}/{repo}/pulls",
//       "action": "github.pulls.create",
//       "resource": {"type": "Repo", "id": "{owner}/{repo}"},
//       "context": {"base": "body:/base", "head": "body:/head"}},
//      {"method": "GET", "path": "/{rest*}", "action": "github.read",
//       "resource": {"type": "Host", "id": "api.github.com"}}]}
//
// A path template is segments: literal text, `{name}` (one non-empty
// segment) or, last, `{name*}` (the rest, possibly empty). `method` is a
// method or "*"; `query` (optional) requires query parameters to have
// these values. Routes are tried in file order; the first that matches
// decides. Context values are literal strings or sources: `{name}` (and
// templates such as `refs/heads/{branch}`), `query:<name>`, or
// `body:<JSON pointer>` (into a JSON request body). `"git":
// "receive-pack"` marks a git push endpoint: the proxy reads its ref
// updates and decides `git.push` once per ref.
//
// Matching sees the normalized path (proxy/normalize.h); a path parameter
// holding a percent escape never matches, so what policy sees is what the
// upstream gets.
#ifndef TETHER_PROXY_ROUTES_H_
#define TETHER_PROXY_ROUTES_H_

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tether::proxy {

struct RouteMatch {
  std::string route;  // "<file>#<index>", for the audit record
  std::string action;
  std::string resource_type, resource_id;  // resource_id canonical
  boost::json::object context;             // the route's keys
  bool git_receive_pack = false;
};

class RouteTable {
 public:
  // Parses one route file. Error code "invalid_routes", the message naming
  // `name` and the route.
  static Result<std::shared_ptr<const RouteTable>> Parse(
      std::string_view json, const std::string& name);
  // Loads and merges route files (a file or a directory of *.json); a host
  // may appear in one file only.
  static Result<std::shared_ptr<const RouteTable>> Load(
      const std::vector<std::string>& paths);

  bool HasHost(std::string_view host) const;
  std::vector<std::string> Hosts() const;
  // Every action some route emits (checked against the action catalog).
  std::vector<std::string> Actions() const;

  // The first route of `host` that matches; nullopt if none does. `path`
  // is normalized; `body` may be null (not JSON or not read). Errors
  // (code "invalid_request"): a matched route whose resource id is not
  // canonical.
  Result<std::optional<RouteMatch>> Match(std::string_view host,
                                          std::string_view method,
                                          std::string_view path,
                                          std::string_view query,
                                          const boost::json::value* body) const;

  struct Segment {
    enum Kind { kLiteral, kParam, kRest } kind = kLiteral;
    std::string text;  // the literal, or the parameter's name
  };
  struct Route {
    std::string id;
    std::string method;  // upper case, or "*"
    std::vector<Segment> path;
    std::map<std::string, std::string> query;
    std::string action;
    std::string resource_type, resource_id;  // id: a template
    std::vector<std::pair<std::string, std::string>> context;
    bool git_receive_pack = false;
  };

 private:
  std::map<std::string, std::vector<Route>, std::less<>> by_host_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_ROUTES_H_
