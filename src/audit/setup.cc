#include "audit/setup.h"

#include <filesystem>

#include "audit/webhook_sink.h"
#include "core/crypto.h"

namespace tether::audit {

std::string AuditDbPath(const Config& config) {
  return config.data_dir + "/audit.db";
}

std::string KeysDir(const Config& config) { return config.data_dir + "/keys"; }

AuditOptions MakeAuditOptions(const Config& config) {
  AuditOptions o;
  o.db_path = AuditDbPath(config);
  o.failure_marker = config.data_dir + "/audit.failed";
  o.checkpoint_every = config.audit.checkpoint_every;
  o.checkpoint_seconds = config.audit.checkpoint_seconds;
  o.hmac_fields = config.audit.hmac_fields;
  o.checkpoint_file = config.audit.witness_file;
  return o;
}

Result<std::shared_ptr<const Redactor>> MakeRedactor(
    const Config& config, std::vector<std::string> secrets) {
  std::vector<std::string> patterns;
  if (config.audit.default_redact_patterns) patterns = DefaultRedactPatterns();
  patterns.insert(patterns.end(), config.audit.redact_patterns.begin(),
                  config.audit.redact_patterns.end());
  return Redactor::Create(std::move(secrets), std::move(patterns));
}

Result<AuditSystem> OpenAuditSystem(const Config& config,
                                    std::vector<std::string> secrets) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return MakeError(
        "io_error", "cannot create `" + config.data_dir + "`: " + ec.message());
  }
  auto redactor = MakeRedactor(config, std::move(secrets));
  if (!redactor) return redactor.error();
  auto keys = LoadOrCreateAuditKeys(KeysDir(config));
  if (!keys) return keys.error();
  AuditSystem system;
  auto log = AuditLog::Open(MakeAuditOptions(config), std::move(*keys),
                            std::move(*redactor));
  if (!log) return log.error();
  system.log = std::move(*log);
  for (const SinkConfig& s : config.audit.sinks) {
    std::unique_ptr<Sink> sink;
    if (s.type == "file") {
      sink =
          std::make_unique<FileSink>(s.name, s.path, s.max_bytes, s.max_files);
    } else {
      WebhookOptions w;
      w.name = s.name;
      w.url = s.url;
      w.headers.assign(s.headers.begin(), s.headers.end());
      w.timeout = std::chrono::milliseconds(s.timeout_ms);
      w.ca_file = s.ca_file;
      auto made = MakeWebhookSink(std::move(w));
      if (!made) return made.error();
      sink = std::move(*made);
    }
    ExporterOptions eo;
    eo.db_path = AuditDbPath(config);
    if (s.records == "checkpoints") {
      eo.source = ExporterOptions::Source::kCheckpoints;
      eo.public_key_hex = HexEncode(system.log->public_key());
    }
    auto exporter = Exporter::Start(eo, std::move(sink));
    if (!exporter) return exporter.error();
    system.exporters.push_back(std::move(*exporter));
  }
  return system;
}

}  // namespace tether::audit
