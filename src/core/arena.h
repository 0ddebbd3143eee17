// Arena: bump allocation for immutable, trivially destructible data whose
// lifetime is that of one owner (a policy set, an entity store, a request, one
// evaluation). Nothing allocated here is ever destroyed individually, so only
// trivially destructible types may be placed in it.
//
// Not thread-safe: one owner allocates; readers of finished data may be many.
#ifndef TETHER_CORE_ARENA_H_
#define TETHER_CORE_ARENA_H_

#include <cstddef>
#include <cstring>
#include <memory_resource>
#include <new>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

namespace tether {

class Arena {
 public:
  Arena() : resource_(std::pmr::new_delete_resource()) {}
  // Uses `buffer` first (for stack-allocated scratch arenas), then the heap.
  Arena(void* buffer, std::size_t size)
      : resource_(buffer, size, std::pmr::new_delete_resource()) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* Allocate(std::size_t bytes, std::size_t align) {
    if (bytes == 0) bytes = 1;
    used_ += bytes + align - 1;  // an upper bound, padding included
    return resource_.allocate(bytes, align);
  }

  // An upper bound on the bytes allocated so far: a buffer this large holds
  // the same allocations again without touching the heap.
  std::size_t used() const { return used_; }

  template <typename T, typename... Args>
  T* New(Args&&... args) {
    static_assert(std::is_trivially_destructible_v<T>);
    return new (Allocate(sizeof(T), alignof(T))) T(std::forward<Args>(args)...);
  }

  // Default-initialized array of `n` elements.
  template <typename T>
  std::span<T> NewArray(std::size_t n) {
    static_assert(std::is_trivially_destructible_v<T>);
    T* p = static_cast<T*>(Allocate(sizeof(T) * n, alignof(T)));
    for (std::size_t i = 0; i < n; ++i) new (p + i) T();
    return {p, n};
  }

  template <typename T>
  std::span<const T> CopyArray(std::span<const T> src) {
    std::span<T> dst = NewArray<T>(src.size());
    for (std::size_t i = 0; i < src.size(); ++i) dst[i] = src[i];
    return dst;
  }

  std::string_view CopyString(std::string_view s) {
    if (s.empty()) return {};
    char* p = static_cast<char*>(Allocate(s.size(), 1));
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }

  // Frees everything at once; previously returned memory becomes invalid.
  void Release() { resource_.release(); }

 private:
  std::pmr::monotonic_buffer_resource resource_;
  std::size_t used_ = 0;
};

}  // namespace tether

#endif  // TETHER_CORE_ARENA_H_
