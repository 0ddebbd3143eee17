// An authorization request: principal, action, resource and context.
#ifndef TETHER_POLICY_REQUEST_H_
#define TETHER_POLICY_REQUEST_H_

#include <boost/json/value.hpp>
#include <memory>
#include <string_view>

#include "core/arena.h"
#include "core/result.h"
#include "policy/value.h"

namespace tether::policy {

// Borrowed view; everything it points to must outlive its use.
struct Request {
  const EntityUid* principal = nullptr;
  const EntityUid* action = nullptr;
  const EntityUid* resource = nullptr;
  const RecordData* context = nullptr;  // never null
};

// A request together with the arena that owns its data.
class OwnedRequest {
 public:
  OwnedRequest() = default;
  OwnedRequest(const OwnedRequest&) = delete;
  OwnedRequest& operator=(const OwnedRequest&) = delete;

  // The Cedar CLI's request JSON: {"principal": "User::\"alice\"",
  // "action": ..., "resource": ..., "context": {...}}; each entity may also be
  // given as {"type": ..., "id": ...}. `context` is optional (empty record).
  // Error code "invalid_request".
  static Result<std::unique_ptr<OwnedRequest>> FromJson(
      const boost::json::value& j);

  const Request& request() const { return request_; }
  Arena& arena() { return arena_; }
  Request& mutable_request() { return request_; }

 private:
  Arena arena_;
  Request request_;
};

}  // namespace tether::policy

#endif  // TETHER_POLICY_REQUEST_H_
