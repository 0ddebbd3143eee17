#include "proxy/stream_redactor.h"

#include <algorithm>

namespace tether::proxy {

StreamRedactor::StreamRedactor(std::vector<std::string> values) {
  for (std::string& v : values) {
    if (v.empty()) continue;
    hold_ = std::max(hold_, v.size() - 1);
    values_.push_back(std::move(v));
  }
}

void StreamRedactor::Mask(std::string& s) const {
  static constexpr std::string_view kMask = "[REDACTED]";
  for (const std::string& v : values_) {
    for (std::size_t at = s.find(v); at != std::string::npos;
         at = s.find(v, at + v.size())) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        s[at + i] = i < kMask.size() ? kMask[i] : '*';
      }
    }
  }
}

std::string_view StreamRedactor::Push(std::string_view piece) {
  if (!active()) return piece;
  pending_.erase(0, released_);
  pending_.append(piece);
  // A value that starts in what is released now ends within pending_ (at
  // most hold_ bytes are kept back), so it has been masked.
  Mask(pending_);
  released_ = pending_.size() > hold_ ? pending_.size() - hold_ : 0;
  return std::string_view(pending_).substr(0, released_);
}

std::string_view StreamRedactor::Finish() {
  if (!active()) return {};
  std::string_view rest = std::string_view(pending_).substr(released_);
  released_ = pending_.size();
  return rest;
}

}  // namespace tether::proxy
