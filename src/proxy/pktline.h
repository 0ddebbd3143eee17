// The command section of a git smart-HTTP push (`POST .../git-receive-pack`,
// protocol v0/v1), parsed as it streams through the proxy so that every ref
// update can be authorized before the pack is forwarded, and the answer that
// rejects a whole push in a form `git push` prints. The wire format and what
// tether accepts of it are written down in docs/git-push.md.
//
// Everything here parses untrusted input: each malformed byte sequence is an
// Error with code "invalid_push" and a message fit to show to the git user
// (lowercase, input in backticks); nothing is asserted.
#ifndef TETHER_PROXY_PKTLINE_H_
#define TETHER_PROXY_PKTLINE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/result.h"

namespace tether::proxy {

// A pkt-line carries at most this many bytes, its 4-byte length included.
inline constexpr std::size_t kMaxPktLine = 65520;
// Limits on one push's command section (everything before the pack).
inline constexpr std::size_t kMaxRefUpdates = 10000;
inline constexpr std::size_t kMaxCommandSection = 1 << 20;

struct RefUpdate {
  std::string old_oid;  // lowercase hex, 40 (SHA-1) or 64 (SHA-256) digits
  std::string new_oid;
  std::string ref;         // full and valid, e.g. "refs/heads/main"
  bool is_create = false;  // old_oid is all zeros
  bool is_delete = false;  // new_oid is all zeros (never both)
};

struct PushCommands {
  std::vector<RefUpdate> updates;         // in wire order, no ref twice
  std::vector<std::string> capabilities;  // as sent, e.g. "agent=git/2.39.5"
  std::vector<std::string> shallow;       // object ids of `shallow` lines
  std::vector<std::string> push_options;  // only with "push-options"
  bool has_pack = false;  // a pack follows: some update is not a delete

  bool HasCapability(std::string_view name) const;
};

// Parses the command section incrementally; the pack that follows is never
// buffered. Not thread-safe; one parser per request body.
//
//   ReceivePackParser p;
//   for each chunk of the body:
//     std::size_t used = 0;
//     auto r = p.Feed(chunk, used);
//     if (!r) reject with r.error().message;
//     if (*r == kDone) { authorize p.commands(); the rest of the body,
//                        chunk.substr(used) onward, is the pack }
//
// After kDone, Feed consumes nothing and returns kDone again. After an error
// every later Feed returns the same error. A body that ends while the last
// Feed said kNeedMore is truncated: the caller must reject it.
class ReceivePackParser {
 public:
  enum class State { kNeedMore, kDone };

  ReceivePackParser() = default;
  ReceivePackParser(const ReceivePackParser&) = delete;
  ReceivePackParser& operator=(const ReceivePackParser&) = delete;

  // `consumed` is set to how many leading bytes of `chunk` belong to the
  // command section (all of them while kNeedMore is returned).
  Result<State> Feed(std::string_view chunk, std::size_t& consumed);

  // Complete once Feed returned kDone.
  const PushCommands& commands() const { return commands_; }

 private:
  enum class Phase { kCommands, kPushOptions, kDone, kFailed };

  Status OnPacket(std::string_view payload);  // a data pkt-line, header off
  Status OnFlush();
  Status OnCommand(std::string_view line);
  Status CheckOid(std::string_view oid);
  Error Fail(std::string message);  // makes the failure sticky

  Phase phase_ = Phase::kCommands;
  Error error_;
  std::string pending_;       // the pkt-line being received, header included
  std::size_t expected_ = 0;  // its declared length, once its header is in
  std::size_t section_bytes_ = 0;
  std::size_t oid_size_ = 0;   // fixed by object-format or the first id
  std::string object_format_;  // from the capabilities, if sent
  bool saw_command_ = false;
  std::unordered_set<std::string> refs_;
  PushCommands commands_;
};

// The body of a receive-pack result (Content-Type
// application/x-git-receive-pack-result, HTTP 200) that rejects every update
// of `cmds` with `reason`, shaped by the capabilities the client sent:
//  - report-status(-v2): "unpack ok", then "ng <ref> <reason>" for every
//    ref, so git prints "! [remote rejected] <ref> (<reason>)" and fails;
//  - with side-band(-64k) as well, that report goes on band 1 and
//    "tether: <reason>" on band 2 first (git prints "remote: tether: ...");
//  - side-band without report-status: the message on band 3 (fatal), which
//    makes git fail;
//  - neither (git asks for report-status whenever the server offers it):
//    an ERR pkt-line; git 2.39 shows no reason but fails the push.
// Control characters in `reason` become spaces; it is cut to 1000 bytes.
std::string RejectPush(const PushCommands& cmds, std::string_view reason);

// One pkt-line carrying `payload` (at most kMaxPktLine - 4 bytes; longer
// payloads are the caller's bug and are cut).
std::string PktLine(std::string_view payload);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_PKTLINE_H_
