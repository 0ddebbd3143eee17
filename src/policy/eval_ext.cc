#include "policy/eval_ext.h"

#include "core/text.h"
#include "policy/extensions.h"

namespace tether::policy {
namespace {

struct FnInfo {
  ExtFn fn;
  std::string_view name;
  std::size_t arity;  // including a method's receiver
};

constexpr FnInfo kFns[] = {
    {ExtFn::kIp, "ip", 1},
    {ExtFn::kDecimal, "decimal", 1},
    {ExtFn::kIsIpv4, "isIpv4", 1},
    {ExtFn::kIsIpv6, "isIpv6", 1},
    {ExtFn::kIsLoopback, "isLoopback", 1},
    {ExtFn::kIsMulticast, "isMulticast", 1},
    {ExtFn::kIsInRange, "isInRange", 2},
    {ExtFn::kLessThan, "lessThan", 2},
    {ExtFn::kLessThanOrEqual, "lessThanOrEqual", 2},
    {ExtFn::kGreaterThan, "greaterThan", 2},
    {ExtFn::kGreaterThanOrEqual, "greaterThanOrEqual", 2},
    {ExtFn::kUnknown, "unknown", 1},
};

const FnInfo& Info(ExtFn fn) {
  for (const FnInfo& f : kFns) {
    if (f.fn == fn) return f;
  }
  return kFns[0];
}

std::string TypeName(const Value& v) {
  if (v.is(ValueKind::kEntity)) {
    return "(entity of type `" + std::string(v.AsEntity().type) + "`)";
  }
  return std::string(KindName(v.kind()));
}

}  // namespace

std::optional<ExtFn> ExtFnByName(std::string_view name) {
  for (const FnInfo& f : kFns) {
    if (f.name == name) return f.fn;
  }
  return std::nullopt;
}

std::string_view ExtFnName(ExtFn fn) { return Info(fn).name; }

std::string TypeError(std::string_view expected, const Value& got) {
  return "type error: expected " + std::string(expected) + ", got " +
         TypeName(got);
}

bool CallExtension(ExtFn fn, std::span<const Value> args, Arena& arena,
                   Value* out, std::string* error) {
  const FnInfo& info = Info(fn);
  if (args.size() != info.arity) {
    *error = "wrong number of arguments provided to extension function `" +
             std::string(info.name) + "`: expected " +
             std::to_string(info.arity) + ", got " +
             std::to_string(args.size());
    return false;
  }
  auto expect = [&](std::size_t i, ValueKind kind, const char* name) {
    if (args[i].is(kind)) return true;
    *error = TypeError(name, args[i]);
    return false;
  };
  switch (fn) {
    case ExtFn::kIp: {
      if (!expect(0, ValueKind::kString, "string")) return false;
      auto ip = ParseIp(args[0].AsString());
      if (!ip) {
        *error =
            "error while evaluating `ipaddr` extension function: "
            "invalid ip address " +
            Quote(args[0].AsString());
        return false;
      }
      *out = Value::Ip(arena.New<IpAddr>(*ip));
      return true;
    }
    case ExtFn::kDecimal: {
      if (!expect(0, ValueKind::kString, "string")) return false;
      auto d = ParseDecimal(args[0].AsString());
      if (!d) {
        *error =
            "error while evaluating `decimal` extension function: "
            "invalid decimal " +
            Quote(args[0].AsString());
        return false;
      }
      *out = Value::Decimal(*d);
      return true;
    }
    case ExtFn::kIsIpv4:
    case ExtFn::kIsIpv6:
    case ExtFn::kIsLoopback:
    case ExtFn::kIsMulticast: {
      if (!expect(0, ValueKind::kIp, "ipaddr")) return false;
      const IpAddr& ip = args[0].AsIp();
      bool r = fn == ExtFn::kIsIpv4       ? IpIsV4(ip)
               : fn == ExtFn::kIsIpv6     ? IpIsV6(ip)
               : fn == ExtFn::kIsLoopback ? IpIsLoopback(ip)
                                          : IpIsMulticast(ip);
      *out = Value::Bool(r);
      return true;
    }
    case ExtFn::kIsInRange:
      if (!expect(0, ValueKind::kIp, "ipaddr") ||
          !expect(1, ValueKind::kIp, "ipaddr")) {
        return false;
      }
      *out = Value::Bool(IpIsInRange(args[0].AsIp(), args[1].AsIp()));
      return true;
    case ExtFn::kLessThan:
    case ExtFn::kLessThanOrEqual:
    case ExtFn::kGreaterThan:
    case ExtFn::kGreaterThanOrEqual: {
      if (!expect(0, ValueKind::kDecimal, "decimal") ||
          !expect(1, ValueKind::kDecimal, "decimal")) {
        return false;
      }
      std::int64_t a = args[0].AsDecimal(), b = args[1].AsDecimal();
      bool r = fn == ExtFn::kLessThan          ? a < b
               : fn == ExtFn::kLessThanOrEqual ? a <= b
               : fn == ExtFn::kGreaterThan     ? a > b
                                               : a >= b;
      *out = Value::Bool(r);
      return true;
    }
    case ExtFn::kUnknown:
      *error =
          "the expression contains an unknown, which only partial "
          "evaluation can resolve";
      return false;
  }
  *error = "unsupported extension function";
  return false;
}

}  // namespace tether::policy
