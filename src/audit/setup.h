// Wiring the audit log from tether.toml: options, redactor and sinks.
#ifndef TETHER_AUDIT_SETUP_H_
#define TETHER_AUDIT_SETUP_H_

#include <memory>
#include <string>
#include <vector>

#include "audit/export.h"
#include "audit/log.h"
#include "core/config.h"

namespace tether::audit {

// Paths inside the data directory (DESIGN.md: audit.db, keys/).
std::string AuditDbPath(const Config& config);
std::string KeysDir(const Config& config);

AuditOptions MakeAuditOptions(const Config& config);

// The redactor for the configured patterns plus `secrets`.
Result<std::shared_ptr<const Redactor>> MakeRedactor(
    const Config& config, std::vector<std::string> secrets);

struct AuditSystem {
  std::unique_ptr<AuditLog> log;
  std::vector<std::unique_ptr<Exporter>> exporters;

  AuditSystem() = default;
  AuditSystem(AuditSystem&&) = default;
  AuditSystem& operator=(AuditSystem&&) = default;
  // The log first (its final checkpoint), then the exporters (their last
  // delivery).
  ~AuditSystem() {
    log.reset();
    for (auto& e : exporters) e->Notify();
    exporters.clear();
  }
};

// Opens the log (creating keys and the database at first use) and starts an
// exporter per configured sink.
Result<AuditSystem> OpenAuditSystem(const Config& config,
                                    std::vector<std::string> secrets = {});

}  // namespace tether::audit

#endif  // TETHER_AUDIT_SETUP_H_
