// FlatMap: an insert-only open-addressing hash map for read-mostly indexes
// built once and then only looked up (entity stores, policy indexes).
//
// Linear probing over a power-of-two table of 32-bit indices into a dense
// entry vector; load factor at most 1/2. Lookups cost one multiply, a mask
// and (usually) one key comparison. Pointers to values stay valid until the
// next Insert. Not thread-safe for writers; concurrent lookups are fine.
#ifndef TETHER_CORE_FLAT_MAP_H_
#define TETHER_CORE_FLAT_MAP_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace tether {

template <typename K, typename V, typename Hash, typename Eq>
class FlatMap {
 public:
  using Entry = std::pair<K, V>;

  V* Find(const K& key) {
    return const_cast<V*>(static_cast<const FlatMap*>(this)->Find(key));
  }
  const V* Find(const K& key) const {
    if (slots_.empty()) return nullptr;
    std::uint64_t mask = slots_.size() - 1;
    for (std::uint64_t i = Spread(Hash{}(key)) & mask;; i = (i + 1) & mask) {
      std::uint32_t s = slots_[i];
      if (s == 0) return nullptr;
      if (Eq{}(entries_[s - 1].first, key)) return &entries_[s - 1].second;
    }
  }

  // The value for `key`, default-constructed if new; `.second` says so.
  std::pair<V*, bool> Insert(const K& key) {
    if (V* v = Find(key)) return {v, false};
    if ((entries_.size() + 1) * 2 > slots_.size()) Grow();
    entries_.emplace_back(key, V());
    Place(entries_.size() - 1);
    return {&entries_.back().second, true};
  }

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::vector<Entry>& entries() { return entries_; }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  static std::uint64_t Spread(std::uint64_t h) {
    return (h * 0x9E3779B97F4A7C15ULL) >> 7 ^ h;
  }
  void Place(std::size_t index) {
    std::uint64_t mask = slots_.size() - 1;
    std::uint64_t i = Spread(Hash{}(entries_[index].first)) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = static_cast<std::uint32_t>(index + 1);
  }
  void Grow() {
    slots_.assign(slots_.empty() ? 16 : slots_.size() * 2, 0);
    for (std::size_t i = 0; i < entries_.size(); ++i) Place(i);
  }

  std::vector<Entry> entries_;
  std::vector<std::uint32_t> slots_;
};

}  // namespace tether

#endif  // TETHER_CORE_FLAT_MAP_H_
