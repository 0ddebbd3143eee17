#include "broker/catalog.h"

#include <boost/json.hpp>
#include <functional>

#include "core/entity_ids.h"
#include "core/files.h"
#include "core/json.h"
#include "core/time.h"

namespace tether::broker {
namespace {

namespace json = boost::json;

const policy::RecordData kEmptyRecord{};

Error Invalid(const std::string& name, const std::string& message) {
  return MakeError("invalid_catalog", name + ": " + message);
}

bool ValidActionName(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<ActionCatalog>> ActionCatalog::Parse(
    std::string_view text, const std::string& name) {
  LineCol where;
  auto j = ParseJson(text, {}, &where);
  if (!j) {
    return MakeError("invalid_catalog", name + ":" +
                                            std::to_string(where.line) + ":" +
                                            std::to_string(where.column) +
                                            ": " + j.error().message);
  }
  if (!j->is_object()) return Invalid(name, "the catalog must be an object");
  std::unique_ptr<ActionCatalog> c(new ActionCatalog());
  for (const auto& [key, value] : j->get_object()) {
    if (key != "groups" && key != "actions") {
      return Invalid(name, "unknown member `" + std::string(key) + "`");
    }
  }
  auto read = [&](const char* section,
                  std::map<std::string, Node, std::less<>>& out) -> Status {
    const json::value* v = j->get_object().if_contains(section);
    if (!v) return {};
    if (!v->is_object())
      return Invalid(name, std::string("`") + section + "` must be an object");
    for (const auto& [key, entry] : v->get_object()) {
      std::string n(key);
      if (!ValidActionName(n)) {
        return Invalid(name, "`" + n + "` is not a valid action name");
      }
      if (!entry.is_object())
        return Invalid(name, "`" + n + "` must be an object");
      Node node;
      node.uid = policy::MakeUid(c->arena_, "Action", n);
      for (const auto& [field, fv] : entry.get_object()) {
        if (field == "description") {
          if (!fv.is_string())
            return Invalid(name, "`" + n + "`.description must be a string");
        } else if (field == "groups") {
          if (!fv.is_array())
            return Invalid(name, "`" + n + "`.groups must be a list");
          for (const json::value& g : fv.get_array()) {
            if (!g.is_string())
              return Invalid(name, "`" + n + "`.groups must be strings");
            node.parent_names.emplace_back(g.get_string());
          }
        } else {
          return Invalid(name, "unknown member `" + std::string(field) +
                                   "` of `" + n + "`");
        }
      }
      out.emplace(n, std::move(node));
    }
    return {};
  };
  if (Status s = read("groups", c->groups_); !s) return s.error();
  if (Status s = read("actions", c->actions_); !s) return s.error();
  for (const auto& [n, node] : c->actions_) {
    if (c->groups_.count(n)) {
      return Invalid(name, "`" + n + "` is both an action and a group");
    }
  }
  auto resolve = [&](std::map<std::string, Node, std::less<>>& m) -> Status {
    for (auto& [n, node] : m) {
      for (const std::string& p : node.parent_names) {
        auto it = c->groups_.find(p);
        if (it == c->groups_.end()) {
          return Invalid(name,
                         "`" + n + "` names the undeclared group `" + p + "`");
        }
        node.parents.push_back(it->second.uid);
      }
    }
    return {};
  };
  if (Status s = resolve(c->groups_); !s) return s.error();
  if (Status s = resolve(c->actions_); !s) return s.error();
  // Group cycles.
  std::map<std::string, int> state;  // 1 visiting, 2 done
  std::function<bool(const std::string&)> acyclic = [&](const std::string& g) {
    int& st = state[g];
    if (st == 1) return false;
    if (st == 2) return true;
    st = 1;
    for (const std::string& p : c->groups_.at(g).parent_names) {
      if (!acyclic(p)) return false;
    }
    state[g] = 2;
    return true;
  };
  for (const auto& [g, node] : c->groups_) {
    if (!acyclic(g)) return Invalid(name, "group `" + g + "` is in a cycle");
  }
  if (c->actions_.empty()) return Invalid(name, "the catalog has no actions");
  return c;
}

Result<std::unique_ptr<ActionCatalog>> ActionCatalog::Load(
    const std::string& path) {
  auto text = ReadFile(path, 4 * 1024 * 1024);
  if (!text)
    return MakeError("invalid_catalog", path + ": " + text.error().message);
  return Parse(*text, path);
}

bool ActionCatalog::Has(std::string_view action) const {
  return actions_.find(action) != actions_.end();
}

const policy::EntityUid* ActionCatalog::Uid(std::string_view action) const {
  auto it = actions_.find(action);
  return it == actions_.end() ? nullptr : it->second.uid;
}

Status ActionCatalog::AddEntities(std::string_view action,
                                  policy::EntityStore& store) const {
  auto it = actions_.find(action);
  if (it == actions_.end()) {
    return MakeError("unknown_action", "unknown action");
  }
  if (Status s = store.Add(it->second.uid, &kEmptyRecord, &kEmptyRecord,
                           it->second.parents);
      !s) {
    return s;
  }
  std::vector<const std::string*> todo;
  for (const std::string& p : it->second.parent_names) todo.push_back(&p);
  std::set<std::string_view> seen;
  while (!todo.empty()) {
    const std::string& g = *todo.back();
    todo.pop_back();
    if (!seen.insert(g).second) continue;
    const Node& node = groups_.find(g)->second;
    if (Status s =
            store.Add(node.uid, &kEmptyRecord, &kEmptyRecord, node.parents);
        !s) {
      return s;
    }
    for (const std::string& p : node.parent_names) todo.push_back(&p);
  }
  return {};
}

std::vector<std::string> ActionCatalog::Names() const {
  std::vector<std::string> out;
  for (const auto& [n, node] : actions_) out.push_back(n);
  return out;
}

Result<std::unique_ptr<ResourceCatalog>> ResourceCatalog::Load(
    const ResourcesConfig& config) {
  std::unique_ptr<ResourceCatalog> c(new ResourceCatalog());
  c->types_.insert(config.types.begin(), config.types.end());
  c->open_types_.insert(config.open_types.begin(), config.open_types.end());
  if (config.entities.empty()) {
    c->entities_ = std::make_unique<policy::EntityStore>();
    if (Status s = c->entities_->Finalize(); !s) return s.error();
    return c;
  }
  auto text = ReadFile(config.entities, 64 * 1024 * 1024);
  if (!text) {
    return MakeError("invalid_catalog",
                     config.entities + ": " + text.error().message);
  }
  LineCol where;
  auto j = ParseJson(*text, {}, &where);
  if (!j) {
    return MakeError("invalid_catalog", config.entities + ":" +
                                            std::to_string(where.line) + ":" +
                                            std::to_string(where.column) +
                                            ": " + j.error().message);
  }
  // Requests name repositories and hosts canonically; a catalog entity under
  // another spelling would never be found, and its parents and attributes
  // would silently not apply.
  if (j->is_array()) {
    auto check = [&](const json::value& uid) -> Status {
      if (!uid.is_object()) return {};
      const json::object& u =
          uid.get_object().contains("__entity") &&
                  uid.get_object().at("__entity").is_object()
              ? uid.get_object().at("__entity").get_object()
              : uid.get_object();
      const json::value* type = u.if_contains("type");
      const json::value* id = u.if_contains("id");
      if (!type || !id || !type->is_string() || !id->is_string()) return {};
      std::string_view t = type->get_string(), i = id->get_string();
      Result<std::string> canonical = std::string(i);
      if (t == "Repo") canonical = CanonicalRepo(i);
      if (t == "Host") canonical = CanonicalHost(i);
      if (!canonical || *canonical != i) {
        return MakeError("invalid_catalog",
                         config.entities + ": " + std::string(t) + "::\"" +
                             std::string(i) + "\" is not canonical (write " +
                             (canonical ? *canonical : "owner/name") + ")");
      }
      return {};
    };
    for (const json::value& e : j->get_array()) {
      if (!e.is_object()) continue;
      if (const json::value* uid = e.get_object().if_contains("uid")) {
        if (Status st = check(*uid); !st) return st.error();
      }
      if (const json::value* parents = e.get_object().if_contains("parents");
          parents && parents->is_array()) {
        for (const json::value& p : parents->get_array()) {
          if (Status st = check(p); !st) return st.error();
        }
      }
    }
  }
  auto store = policy::EntityStore::FromJson(*j);
  if (!store) {
    return MakeError("invalid_catalog",
                     config.entities + ": " + store.error().message);
  }
  c->entities_ = std::move(*store);
  return c;
}

bool ResourceCatalog::KnownType(std::string_view type) const {
  return types_.find(type) != types_.end();
}

bool ResourceCatalog::OpenType(std::string_view type) const {
  return open_types_.find(type) != open_types_.end();
}

const policy::Entity* ResourceCatalog::Find(
    const policy::EntityUid& uid) const {
  return entities_->Find(uid);
}

Result<std::shared_ptr<const PolicyBundle>> LoadPolicyBundle(
    const Config& config) {
  auto bundle = std::make_shared<PolicyBundle>();
  policy::BuildOptions options;
  options.require_ids = true;
  policy::PolicySet::Builder builder(options);
  auto sources = ReadSources(config.server.policies, ".cedar");
  if (!sources) {
    return MakeError("invalid_policy",
                     config.server.policies + ": " + sources.error().message);
  }
  if (sources->empty()) {
    return MakeError("invalid_policy",
                     config.server.policies + ": no *.cedar policy files");
  }
  for (NamedText& s : *sources) builder.AddSource(s.name, s.text);
  auto set = builder.Build();
  if (!set) {
    std::string message;
    for (const policy::SourceDiagnostic& d : builder.diagnostics()) {
      if (!message.empty()) message += '\n';
      message += policy::FormatDiagnostic(d);
    }
    if (message.empty()) message = set.error().message;
    return MakeError("invalid_policy", message);
  }
  bundle->policies = std::move(*set);
  for (const policy::Policy& p : bundle->policies->policies()) {
    if (!p.approval) continue;
    const std::string& text = (*sources)[p.source].text;
    if (p.span.end <= text.size() && p.span.begin < p.span.end) {
      bundle->approval_text[p.id] =
          text.substr(p.span.begin, p.span.end - p.span.begin);
    }
  }
  auto actions = ActionCatalog::Load(config.actions.catalog);
  if (!actions) return actions.error();
  bundle->actions = std::move(*actions);
  auto resources = ResourceCatalog::Load(config.resources);
  if (!resources) return resources.error();
  bundle->resources = std::move(*resources);
  bundle->loaded_ms = NowMs();
  return std::shared_ptr<const PolicyBundle>(std::move(bundle));
}

}  // namespace tether::broker
