// Cedar values.
//
// A Value is a 16-byte, trivially copyable handle. Scalars (bool, long,
// decimal) are stored inline; everything else points at immutable data owned
// by an Arena: the policy set's (literals), the entity store's (attributes),
// the request's (context) or one evaluation's scratch arena (temporaries). A
// Value never outlives the arena its data lives in.
//
// Sets are kept canonical (sorted by Compare, no duplicates) and records sorted
// by key, so equality is structural and cheap, as Cedar's set semantics need.
#ifndef TETHER_POLICY_VALUE_H_
#define TETHER_POLICY_VALUE_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/arena.h"

namespace tether::policy {

enum class ValueKind : std::uint8_t {
  kBool,
  kLong,
  kString,
  kEntity,
  kSet,
  kRecord,
  kIp,
  kDecimal,
};

// "bool", "long", "string", "entity", "set", "record", "ipaddr", "decimal".
std::string_view KindName(ValueKind kind);

// An entity UID. `type` is the full type name (`Git::Repo`). The hashes are
// computed by MakeUid: `type_hash` of the type alone, `hash` of both parts;
// comparisons check them before any string.
struct EntityUid {
  std::string_view type;
  std::string_view id;
  std::uint64_t hash = 0;
  std::uint64_t type_hash = 0;

  friend bool operator==(const EntityUid& a, const EntityUid& b) {
    return &a == &b || (a.hash == b.hash && a.type == b.type && a.id == b.id);
  }
  bool HasType(std::string_view t, std::uint64_t t_hash) const {
    return (type.data() == t.data() && type.size() == t.size()) ||
           (type_hash == t_hash && type == t);
  }
};

std::uint64_t HashType(std::string_view type);
std::uint64_t HashUid(std::string_view type, std::string_view id);
// Copies the strings into `arena`.
const EntityUid* MakeUid(Arena& arena, std::string_view type,
                         std::string_view id);
// `Type::"id"` with the id escaped as in Cedar source.
std::string UidToString(const EntityUid& uid);

// An IP address with a prefix length (Cedar's `ipaddr` extension type). For
// IPv4 only the first 4 bytes of `addr` are used.
struct IpAddr {
  std::array<std::uint8_t, 16> addr{};
  std::uint8_t prefix = 0;
  bool v6 = false;
};

class Value;
struct SetData {
  const Value* items = nullptr;  // sorted by Compare, unique
  std::size_t size = 0;
  std::span<const Value> span() const;
};
struct RecordEntry;
struct RecordData {
  const RecordEntry* entries = nullptr;  // sorted by key, unique keys
  std::size_t size = 0;
  std::span<const RecordEntry> span() const;
  // Null if `key` is absent.
  const Value* Find(std::string_view key) const;
};

class Value {
 public:
  Value() : kind_(ValueKind::kBool), len_(0), i_(0) {}

  static Value Bool(bool b) { return Value(ValueKind::kBool, b ? 1 : 0); }
  static Value Long(std::int64_t i) { return Value(ValueKind::kLong, i); }
  // A decimal is stored scaled by 10^4 (Cedar's four fractional digits).
  static Value Decimal(std::int64_t scaled) {
    return Value(ValueKind::kDecimal, scaled);
  }
  // `s` must stay valid as long as the Value (arena-owned or a literal).
  static Value String(std::string_view s) {
    Value v;
    v.kind_ = ValueKind::kString;
    v.len_ = static_cast<std::uint32_t>(s.size());
    v.s_ = s.data();
    return v;
  }
  static Value Entity(const EntityUid* uid) {
    return Value(ValueKind::kEntity, uid);
  }
  static Value Set(const SetData* set) { return Value(ValueKind::kSet, set); }
  static Value Record(const RecordData* r) {
    return Value(ValueKind::kRecord, r);
  }
  static Value Ip(const IpAddr* ip) { return Value(ValueKind::kIp, ip); }

  ValueKind kind() const { return kind_; }
  bool is(ValueKind k) const { return kind_ == k; }

  // Accessors: the kind must match.
  bool AsBool() const { return i_ != 0; }
  std::int64_t AsLong() const { return i_; }
  std::int64_t AsDecimal() const { return i_; }
  std::string_view AsString() const { return {s_, len_}; }
  const EntityUid& AsEntity() const {
    return *static_cast<const EntityUid*>(p_);
  }
  const SetData& AsSet() const { return *static_cast<const SetData*>(p_); }
  const RecordData& AsRecord() const {
    return *static_cast<const RecordData*>(p_);
  }
  const IpAddr& AsIp() const { return *static_cast<const IpAddr*>(p_); }

 private:
  Value(ValueKind k, std::int64_t i) : kind_(k), len_(0), i_(i) {}
  Value(ValueKind k, const void* p) : kind_(k), len_(0), p_(p) {}

  ValueKind kind_;
  std::uint32_t len_;
  union {
    std::int64_t i_;
    const char* s_;
    const void* p_;
  };
};

struct RecordEntry {
  std::string_view key;
  Value value;
};

inline std::span<const Value> SetData::span() const { return {items, size}; }
inline std::span<const RecordEntry> RecordData::span() const {
  return {entries, size};
}

// Cedar equality: structural; values of different kinds are unequal.
bool Equal(const Value& a, const Value& b);
// A total order consistent with Equal (kind first, then contents).
int Compare(const Value& a, const Value& b);

// Builds a canonical set from `items` (any order, duplicates allowed); the
// result and its items live in `arena`. Item data must outlive the set.
const SetData* MakeSet(Arena& arena, std::span<const Value> items);
// Builds a record; returns null if a key repeats (the caller reports it).
const RecordData* MakeRecord(Arena& arena, std::span<RecordEntry> entries);

// Cedar-like rendering for messages and debugging, e.g. `[1, "a"]`.
std::string ValueToString(const Value& v);

// Deep-copies `v` and everything it refers to into `arena`.
Value CopyValue(Arena& arena, const Value& v);

}  // namespace tether::policy

#endif  // TETHER_POLICY_VALUE_H_
