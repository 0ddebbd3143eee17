#include "policy/value_json.h"

#include <boost/json.hpp>
#include <vector>

#include "core/text.h"
#include "policy/eval_ext.h"
#include "policy/parser.h"

namespace tether::policy {
namespace {

namespace json = boost::json;

Error Invalid(std::string_view where, const std::string& what) {
  return MakeError("invalid_value", std::string(where) + ": " + what);
}

// `{"type": T, "id": I}` with string T and I: the uid, or nullopt if the
// object does not have that shape. An invalid type name is an error.
std::optional<Result<const EntityUid*>> UidFromObject(const json::object& o,
                                                      Arena& arena,
                                                      std::string_view where) {
  const json::value* type = o.if_contains("type");
  const json::value* id = o.if_contains("id");
  if (!type || !id || !type->is_string() || !id->is_string()) {
    return std::nullopt;
  }
  std::string_view t = type->get_string();
  if (!IsValidTypeName(t)) {
    return Result<const EntityUid*>(
        Invalid(where, "invalid entity type name " + Quote(t)));
  }
  return Result<const EntityUid*>(MakeUid(arena, t, id->get_string()));
}

std::string JsonKindName(const json::value& j) {
  switch (j.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "an integer";
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

}  // namespace

Result<Value> ValueFromJson(const json::value& j, Arena& arena,
                            std::string_view where) {
  switch (j.kind()) {
    case json::kind::bool_:
      return Value::Bool(j.get_bool());
    case json::kind::int64:
      return Value::Long(j.get_int64());
    case json::kind::uint64:
      if (j.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        return Value::Long(static_cast<std::int64_t>(j.get_uint64()));
      }
      return Invalid(where, "integer is outside the 64-bit signed range");
    case json::kind::double_:
      return Invalid(where, "numbers must be integers");
    case json::kind::null:
      return Invalid(where, "null is not a cedar value");
    case json::kind::string:
      return Value::String(arena.CopyString(j.get_string()));
    case json::kind::array: {
      const json::array& a = j.get_array();
      std::vector<Value> items;
      items.reserve(a.size());
      for (const json::value& item : a) {
        auto v = ValueFromJson(item, arena, where);
        if (!v) return v.error();
        items.push_back(*v);
      }
      return Value::Set(MakeSet(arena, items));
    }
    case json::kind::object:
      break;
  }
  const json::object& o = j.get_object();
  if (o.size() == 1) {
    const auto& [key, inner] = *o.begin();
    if (key == "__entity" && inner.is_object() &&
        inner.get_object().size() >= 2) {
      if (auto uid = UidFromObject(inner.get_object(), arena, where)) {
        if (!*uid) return uid->error();
        return Value::Entity(**uid);
      }
    } else if (key == "__extn" && inner.is_object() &&
               inner.get_object().size() >= 2) {
      const json::object& ext = inner.get_object();
      const json::value* fn = ext.if_contains("fn");
      const json::value* arg = ext.if_contains("arg");
      const json::value* args = ext.if_contains("args");
      if (fn && fn->is_string() && (arg || (args && args->is_array()))) {
        std::string_view name = fn->get_string();
        auto f = ExtFnByName(name);
        if (!f || *f == ExtFn::kUnknown) {
          return Invalid(where, "unknown extension function " + Quote(name));
        }
        std::vector<Value> values;
        if (arg) {
          auto v = ValueFromJson(*arg, arena, where);
          if (!v) return v.error();
          values.push_back(*v);
        } else {
          for (const json::value& a : args->get_array()) {
            auto v = ValueFromJson(a, arena, where);
            if (!v) return v.error();
            values.push_back(*v);
          }
        }
        Value out;
        std::string err;
        if (!CallExtension(*f, values, arena, &out, &err)) {
          return Invalid(where, err);
        }
        return out;
      }
    } else if (key == "__expr" && inner.is_string()) {
      return Invalid(where, "the `__expr` escape is no longer supported");
    }
  }
  std::vector<RecordEntry> entries;
  entries.reserve(o.size());
  for (const auto& [key, inner] : o) {
    auto v = ValueFromJson(inner, arena, where);
    if (!v) return v.error();
    entries.push_back(RecordEntry{arena.CopyString(key), *v});
  }
  const RecordData* rec = MakeRecord(arena, entries);
  if (!rec) return Invalid(where, "duplicate record key");
  return Value::Record(rec);
}

Result<const EntityUid*> UidFromJson(const json::value& j, Arena& arena,
                                     std::string_view where) {
  if (j.is_object()) {
    const json::object& o = j.get_object();
    const json::object* target = &o;
    if (const json::value* inner = o.if_contains("__entity")) {
      if (inner->is_object()) target = &inner->get_object();
    }
    if (auto uid = UidFromObject(*target, arena, where)) return *uid;
  }
  if (j.is_string()) return UidFromText(j.get_string(), arena, where);
  return Invalid(where,
                 "expected an entity reference such as "
                 "{\"type\": \"User\", \"id\": \"alice\"}, got " +
                     JsonKindName(j));
}

Result<const EntityUid*> UidFromText(std::string_view text, Arena& arena,
                                     std::string_view where) {
  ExprParse parsed = ParseExpression(text, arena);
  if (parsed.expr && parsed.expr->kind == ExprKind::kLiteral &&
      parsed.expr->value.is(ValueKind::kEntity)) {
    return &parsed.expr->value.AsEntity();
  }
  return Invalid(where,
                 "expected an entity reference such as "
                 "`User::\"alice\"`, got " +
                     Quote(text));
}

json::value UidToJson(const EntityUid& uid) {
  return json::object{{"type", uid.type}, {"id", uid.id}};
}

json::value ValueToJson(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kBool:
      return v.AsBool();
    case ValueKind::kLong:
      return v.AsLong();
    case ValueKind::kString:
      return json::string(v.AsString());
    case ValueKind::kEntity:
      return json::object{{"__entity", UidToJson(v.AsEntity())}};
    case ValueKind::kSet: {
      json::array a;
      for (const Value& item : v.AsSet().span()) a.push_back(ValueToJson(item));
      return a;
    }
    case ValueKind::kRecord: {
      json::object o;
      for (const RecordEntry& e : v.AsRecord().span()) {
        o[e.key] = ValueToJson(e.value);
      }
      return o;
    }
    case ValueKind::kIp:
    case ValueKind::kDecimal: {
      std::string text = ValueToString(v);  // ip("...") / decimal("...")
      std::size_t open = text.find("(\"");
      std::string fn = text.substr(0, open);
      std::string arg = text.substr(open + 2, text.size() - open - 4);
      return json::object{{"__extn", json::object{{"fn", fn}, {"arg", arg}}}};
    }
  }
  return nullptr;
}

}  // namespace tether::policy
