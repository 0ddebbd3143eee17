// Who is calling, once verified: the principal entity a workload identity or
// operator token maps to (DESIGN.md, entity model).
#ifndef TETHER_IDENTITY_PRINCIPAL_H_
#define TETHER_IDENTITY_PRINCIPAL_H_

#include <boost/json/object.hpp>
#include <string>
#include <vector>

namespace tether::identity {

enum class PrincipalKind { kWorkload, kOperator };

struct Principal {
  PrincipalKind kind = PrincipalKind::kWorkload;
  std::string type;           // entity type: Agent, Operator, ...
  std::string id;             // entity id
  boost::json::object attrs;  // Cedar JSON attribute values
  // The verified subject: an OIDC `sub`, a SPIFFE ID, or operator:<name>.
  // Identity revocations name it.
  std::string subject;
  std::string issuer;  // the issuer's configured name, "x509-svid" or
                       // "operator"
  // Operators only.
  std::string role;  // admin | approver | auditor
  std::vector<std::string> groups;
  std::string operator_id;
};

}  // namespace tether::identity

#endif  // TETHER_IDENTITY_PRINCIPAL_H_
