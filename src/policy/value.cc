#include "policy/value.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

namespace tether::policy {
namespace {

int Cmp3(auto a, auto b) { return a < b ? -1 : (b < a ? 1 : 0); }

void AppendEscaped(std::string& out, std::string_view s) {
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\0':
        out += "\\0";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[12];
          std::snprintf(buf, sizeof buf, "\\u{%x}", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
}

}  // namespace

std::string_view KindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kBool:
      return "bool";
    case ValueKind::kLong:
      return "long";
    case ValueKind::kString:
      return "string";
    case ValueKind::kEntity:
      return "entity";
    case ValueKind::kSet:
      return "set";
    case ValueKind::kRecord:
      return "record";
    case ValueKind::kIp:
      return "ipaddr";
    case ValueKind::kDecimal:
      return "decimal";
  }
  return "unknown";
}

std::uint64_t HashType(std::string_view type) {
  return std::hash<std::string_view>{}(type);
}

std::uint64_t HashUid(std::string_view type, std::string_view id) {
  std::uint64_t h1 = HashType(type);
  std::uint64_t h2 = std::hash<std::string_view>{}(id);
  return h1 ^ (h2 + 0x9e3779b97f4a7c15ULL + (h1 << 6) + (h1 >> 2));
}

const EntityUid* MakeUid(Arena& arena, std::string_view type,
                         std::string_view id) {
  return arena.New<EntityUid>(EntityUid{arena.CopyString(type),
                                        arena.CopyString(id), HashUid(type, id),
                                        HashType(type)});
}

std::string UidToString(const EntityUid& uid) {
  std::string out(uid.type);
  out += "::\"";
  AppendEscaped(out, uid.id);
  out += '"';
  return out;
}

const Value* RecordData::Find(std::string_view key) const {
  // Records are small; a linear scan beats binary search below ~16 entries.
  if (size <= 16) {
    for (std::size_t i = 0; i < size; ++i) {
      if (entries[i].key == key) return &entries[i].value;
    }
    return nullptr;
  }
  const RecordEntry* end = entries + size;
  const RecordEntry* it = std::lower_bound(
      entries, end, key,
      [](const RecordEntry& e, std::string_view k) { return e.key < k; });
  return (it != end && it->key == key) ? &it->value : nullptr;
}

int Compare(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return Cmp3(a.kind(), b.kind());
  switch (a.kind()) {
    case ValueKind::kBool:
      return Cmp3(a.AsBool(), b.AsBool());
    case ValueKind::kLong:
    case ValueKind::kDecimal:
      return Cmp3(a.AsLong(), b.AsLong());
    case ValueKind::kString: {
      int c = a.AsString().compare(b.AsString());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case ValueKind::kEntity: {
      const EntityUid& x = a.AsEntity();
      const EntityUid& y = b.AsEntity();
      if (&x == &y) return 0;
      int c = x.type.compare(y.type);
      if (c == 0) c = x.id.compare(y.id);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case ValueKind::kSet: {
      const SetData& x = a.AsSet();
      const SetData& y = b.AsSet();
      if (x.size != y.size) return Cmp3(x.size, y.size);
      for (std::size_t i = 0; i < x.size; ++i) {
        if (int c = Compare(x.items[i], y.items[i])) return c;
      }
      return 0;
    }
    case ValueKind::kRecord: {
      const RecordData& x = a.AsRecord();
      const RecordData& y = b.AsRecord();
      if (x.size != y.size) return Cmp3(x.size, y.size);
      for (std::size_t i = 0; i < x.size; ++i) {
        int c = x.entries[i].key.compare(y.entries[i].key);
        if (c != 0) return c < 0 ? -1 : 1;
        if (int d = Compare(x.entries[i].value, y.entries[i].value)) return d;
      }
      return 0;
    }
    case ValueKind::kIp: {
      const IpAddr& x = a.AsIp();
      const IpAddr& y = b.AsIp();
      if (x.v6 != y.v6) return Cmp3(x.v6, y.v6);
      if (int c = std::memcmp(x.addr.data(), y.addr.data(), 16)) {
        return c < 0 ? -1 : 1;
      }
      return Cmp3(x.prefix, y.prefix);
    }
  }
  return 0;
}

bool Equal(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kBool:
    case ValueKind::kLong:
    case ValueKind::kDecimal:
      return a.AsLong() == b.AsLong();
    case ValueKind::kString:
      return a.AsString() == b.AsString();
    case ValueKind::kEntity:
      return a.AsEntity() == b.AsEntity();
    default:
      return Compare(a, b) == 0;
  }
}

const SetData* MakeSet(Arena& arena, std::span<const Value> items) {
  std::span<Value> buf = arena.NewArray<Value>(items.size());
  std::copy(items.begin(), items.end(), buf.begin());
  std::sort(buf.begin(), buf.end(),
            [](const Value& x, const Value& y) { return Compare(x, y) < 0; });
  auto last = std::unique(
      buf.begin(), buf.end(),
      [](const Value& x, const Value& y) { return Compare(x, y) == 0; });
  auto* set = arena.New<SetData>();
  set->items = buf.data();
  set->size = static_cast<std::size_t>(last - buf.begin());
  return set;
}

const RecordData* MakeRecord(Arena& arena, std::span<RecordEntry> entries) {
  std::span<RecordEntry> buf = arena.NewArray<RecordEntry>(entries.size());
  std::copy(entries.begin(), entries.end(), buf.begin());
  std::sort(
      buf.begin(), buf.end(),
      [](const RecordEntry& x, const RecordEntry& y) { return x.key < y.key; });
  for (std::size_t i = 1; i < buf.size(); ++i) {
    if (buf[i].key == buf[i - 1].key) return nullptr;
  }
  auto* rec = arena.New<RecordData>();
  rec->entries = buf.data();
  rec->size = buf.size();
  return rec;
}

namespace {

void AppendIp(std::string& out, const IpAddr& ip) {
  char buf[64];
  if (!ip.v6) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip.addr[0], ip.addr[1],
                  ip.addr[2], ip.addr[3]);
    out += buf;
  } else {
    for (int i = 0; i < 8; ++i) {
      std::snprintf(buf, sizeof buf, i ? ":%x" : "%x",
                    (ip.addr[2 * i] << 8) | ip.addr[2 * i + 1]);
      out += buf;
    }
  }
  out += '/';
  out += std::to_string(ip.prefix);
}

void AppendDecimal(std::string& out, std::int64_t scaled) {
  std::uint64_t mag = scaled < 0 ? 0 - static_cast<std::uint64_t>(scaled)
                                 : static_cast<std::uint64_t>(scaled);
  if (scaled < 0) out += '-';
  out += std::to_string(mag / 10000);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%04u", static_cast<unsigned>(mag % 10000));
  out += frac;
}

void AppendValue(std::string& out, const Value& v) {
  switch (v.kind()) {
    case ValueKind::kBool:
      out += v.AsBool() ? "true" : "false";
      break;
    case ValueKind::kLong:
      out += std::to_string(v.AsLong());
      break;
    case ValueKind::kString:
      out += '"';
      AppendEscaped(out, v.AsString());
      out += '"';
      break;
    case ValueKind::kEntity:
      out += UidToString(v.AsEntity());
      break;
    case ValueKind::kSet: {
      out += '[';
      const SetData& s = v.AsSet();
      for (std::size_t i = 0; i < s.size; ++i) {
        if (i) out += ", ";
        AppendValue(out, s.items[i]);
      }
      out += ']';
      break;
    }
    case ValueKind::kRecord: {
      out += '{';
      const RecordData& r = v.AsRecord();
      for (std::size_t i = 0; i < r.size; ++i) {
        if (i) out += ", ";
        out += '"';
        AppendEscaped(out, r.entries[i].key);
        out += "\": ";
        AppendValue(out, r.entries[i].value);
      }
      out += '}';
      break;
    }
    case ValueKind::kIp:
      out += "ip(\"";
      AppendIp(out, v.AsIp());
      out += "\")";
      break;
    case ValueKind::kDecimal:
      out += "decimal(\"";
      AppendDecimal(out, v.AsDecimal());
      out += "\")";
      break;
  }
}

}  // namespace

std::string ValueToString(const Value& v) {
  std::string out;
  AppendValue(out, v);
  return out;
}

Value CopyValue(Arena& arena, const Value& v) {
  switch (v.kind()) {
    case ValueKind::kBool:
    case ValueKind::kLong:
    case ValueKind::kDecimal:
      return v;
    case ValueKind::kString:
      return Value::String(arena.CopyString(v.AsString()));
    case ValueKind::kEntity:
      return Value::Entity(MakeUid(arena, v.AsEntity().type, v.AsEntity().id));
    case ValueKind::kIp:
      return Value::Ip(arena.New<IpAddr>(v.AsIp()));
    case ValueKind::kSet: {
      const SetData& s = v.AsSet();
      std::span<Value> items = arena.NewArray<Value>(s.size);
      for (std::size_t i = 0; i < s.size; ++i) {
        items[i] = CopyValue(arena, s.items[i]);
      }
      auto* set = arena.New<SetData>();
      set->items = items.data();
      set->size = s.size;
      return Value::Set(set);
    }
    case ValueKind::kRecord: {
      const RecordData& r = v.AsRecord();
      std::span<RecordEntry> entries = arena.NewArray<RecordEntry>(r.size);
      for (std::size_t i = 0; i < r.size; ++i) {
        entries[i].key = arena.CopyString(r.entries[i].key);
        entries[i].value = CopyValue(arena, r.entries[i].value);
      }
      auto* rec = arena.New<RecordData>();
      rec->entries = entries.data();
      rec->size = r.size;
      return Value::Record(rec);
    }
  }
  return v;
}

}  // namespace tether::policy
