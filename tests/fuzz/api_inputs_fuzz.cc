// Fuzzes the broker's parsers of network input that are tether's own (HTTP
// framing is Beast's): canonical ids and refs, times, query strings, the
// unverified peek that routes a token to its issuer, operator tokens,
// principal templates, SPIFFE IDs, the action catalog and config parsers,
// console cookies, approval ids and stored approvals. The first byte picks
// the parser.
#include <cstdint>
#include <string>
#include <string_view>

#include "api/console.h"
#include "api/router.h"
#include "broker/approvals.h"
#include "broker/catalog.h"
#include "core/config.h"
#include "core/entity_ids.h"
#include "core/time.h"
#include "identity/operator_token.h"
#include "identity/workload.h"
#include "token/jwt.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace tether;
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 10) {
    case 0: {
      (void)CanonicalRepo(text);
      (void)CanonicalHost(text);
      if (auto ref = CanonicalRef(text)) (void)RefTask(*ref);
      (void)IsTaskId(text);
      break;
    }
    case 1:
      if (auto t = ParseTimeMs(text)) (void)FormatRfc3339(*t);
      break;
    case 2:
      (void)ParseQueryString(text);
      break;
    case 3:
      (void)token::PeekJwt(text);
      break;
    case 4: {
      static identity::OperatorDirectory* dir = [] {
        auto* d = new identity::OperatorDirectory();
        d->Put(identity::MakeOperatorToken("ada", "admin", {}, 1)->record);
        return d;
      }();
      (void)identity::LooksLikeOperatorToken(text);
      (void)dir->Verify(text);
      break;
    }
    case 5:
      (void)identity::PrincipalTemplate::Parse(text);
      if (identity::IsSpiffeId(text)) (void)identity::SpiffeTrustDomain(text);
      break;
    case 6:
      if (auto c = broker::ActionCatalog::Parse(text, "fuzz.json")) {
        for (const auto& name : (*c)->Names()) {
          policy::EntityStore store;
          (void)(*c)->AddEntities(name, store);
          (void)store.Finalize();
        }
      }
      break;
    case 7:
      (void)ParseConfig(text, "fuzz.toml");
      break;
    case 8:
      (void)api::CookieValue(text, api::kSessionCookie);
      (void)api::CookieValue(text, "tether_oidc");
      (void)broker::IsApprovalId(text);
      break;
    case 9: {
      store::ApprovalRecord r;
      r.id = "ap0000000000000000000000000000";
      r.state = "pending";
      r.doc = std::string(text);
      if (auto a = broker::ApprovalFromRecord(r)) {
        (void)broker::ApprovalToJson(*a, "https://tether.test/ui/");
        (void)broker::RequirementsMet(a->requirements, a->votes);
      }
      break;
    }
  }
  return 0;
}
