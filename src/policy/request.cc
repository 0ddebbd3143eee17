#include "policy/request.h"

#include <boost/json.hpp>

#include "policy/value_json.h"

namespace tether::policy {
namespace {

namespace json = boost::json;

const RecordData kEmptyContext{};

Error Invalid(std::string message) {
  return MakeError("invalid_request", std::move(message));
}

}  // namespace

Result<std::unique_ptr<OwnedRequest>> OwnedRequest::FromJson(
    const json::value& j) {
  if (!j.is_object()) return Invalid("a request must be a json object");
  const json::object& o = j.get_object();
  auto req = std::make_unique<OwnedRequest>();
  const EntityUid** slots[] = {&req->request_.principal, &req->request_.action,
                               &req->request_.resource};
  const char* names[] = {"principal", "action", "resource"};
  for (int i = 0; i < 3; ++i) {
    const json::value* v = o.if_contains(names[i]);
    if (!v) return Invalid(std::string("missing field `") + names[i] + "`");
    auto uid = UidFromJson(*v, req->arena_, names[i]);
    if (!uid) return Invalid(uid.error().message);
    *slots[i] = *uid;
  }
  req->request_.context = &kEmptyContext;
  if (const json::value* ctx = o.if_contains("context")) {
    auto v = ValueFromJson(*ctx, req->arena_, "context");
    if (!v) return Invalid(v.error().message);
    if (!v->is(ValueKind::kRecord)) {
      return Invalid("context must be a record (a json object)");
    }
    req->request_.context = &v->AsRecord();
  }
  return req;
}

}  // namespace tether::policy
