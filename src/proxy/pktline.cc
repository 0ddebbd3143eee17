#include "proxy/pktline.h"

#include <algorithm>

#include "core/entity_ids.h"

namespace tether::proxy {
namespace {

constexpr std::size_t kSha1Hex = 40;
constexpr std::size_t kSha256Hex = 64;

// Input echoed back in a message goes to the git user's terminal: bytes that
// could steer it are replaced, and it is kept short.
std::string Shown(std::string_view s) {
  constexpr std::size_t kMax = 200;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  if (s.size() > kMax) out += "...";
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool IsZeroOid(std::string_view oid) {
  return oid.find_first_not_of('0') == std::string_view::npos;
}

// git sends every pkt-line of the command section without a trailing LF,
// but receive-pack strips one if present, and so do we.
std::string_view Chomp(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

}  // namespace

bool PushCommands::HasCapability(std::string_view name) const {
  return std::find(capabilities.begin(), capabilities.end(), name) !=
         capabilities.end();
}

Error ReceivePackParser::Fail(std::string message) {
  phase_ = Phase::kFailed;
  error_ = MakeError("invalid_push", std::move(message));
  return error_;
}

Result<ReceivePackParser::State> ReceivePackParser::Feed(
    std::string_view chunk, std::size_t& consumed) {
  consumed = 0;
  if (phase_ == Phase::kFailed) return error_;
  if (phase_ == Phase::kDone) return State::kDone;
  std::size_t i = 0;
  while (i < chunk.size()) {
    if (pending_.size() < 4) {
      std::size_t take = std::min(4 - pending_.size(), chunk.size() - i);
      pending_.append(chunk.substr(i, take));
      i += take;
      if (pending_.size() < 4) break;
      std::size_t length = 0;
      for (char c : pending_) {
        int v = HexValue(c);
        if (v < 0) {
          consumed = i;
          return Fail("malformed pkt-line length `" + Shown(pending_) + "`");
        }
        length = length * 16 + static_cast<std::size_t>(v);
      }
      // Checked before the line is buffered, so that a lying length can
      // neither grow the buffer nor the section past its limit.
      if (section_bytes_ + std::max<std::size_t>(length, 4) >
          kMaxCommandSection) {
        consumed = i;
        return Fail("push command section larger than 1 MiB");
      }
      if (length == 0) {
        section_bytes_ += 4;
        pending_.clear();
        if (Status s = OnFlush(); !s) {
          consumed = i;
          return s.error();
        }
        if (phase_ == Phase::kDone) {
          consumed = i;
          return State::kDone;
        }
        continue;
      }
      if (length < 4) {
        // delim-pkt and response-end-pkt belong to protocol v2, which has
        // no push; 0003 is nothing at all.
        consumed = i;
        return Fail("malformed pkt-line length `" + Shown(pending_) + "`");
      }
      if (length > kMaxPktLine) {
        consumed = i;
        return Fail("pkt-line longer than 65520 bytes");
      }
      expected_ = length;
      pending_.reserve(length);
    }
    std::size_t take = std::min(expected_ - pending_.size(), chunk.size() - i);
    pending_.append(chunk.substr(i, take));
    i += take;
    if (pending_.size() == expected_) {
      section_bytes_ += expected_;
      Status s = OnPacket(std::string_view(pending_).substr(4));
      pending_.clear();
      if (!s) {
        consumed = i;
        return s.error();
      }
    }
  }
  consumed = chunk.size();
  return State::kNeedMore;
}

Status ReceivePackParser::OnFlush() {
  if (phase_ == Phase::kCommands && saw_command_ &&
      commands_.HasCapability("push-options")) {
    phase_ = Phase::kPushOptions;
    return {};
  }
  // Also a flush with no command before it: receive-pack then reads no
  // pack and updates nothing, and neither does anything after it.
  phase_ = Phase::kDone;
  commands_.has_pack =
      std::any_of(commands_.updates.begin(), commands_.updates.end(),
                  [](const RefUpdate& u) { return !u.is_delete; });
  return {};
}

Status ReceivePackParser::OnPacket(std::string_view payload) {
  std::string_view line = Chomp(payload);
  if (line.empty()) return Fail("empty pkt-line in the push commands");
  if (phase_ == Phase::kPushOptions) {
    if (HasControl(line)) {
      return Fail("push option `" + Shown(line) +
                  "` contains a control character");
    }
    commands_.push_options.emplace_back(line);
    return {};
  }
  if (line.starts_with("shallow ")) {
    if (saw_command_) return Fail("`shallow` line after a ref update");
    std::string_view oid = line.substr(8);
    if (Status s = CheckOid(oid); !s) return s;
    commands_.shallow.emplace_back(oid);
    return {};
  }
  if (line.starts_with("push-cert")) {
    return Fail("signed pushes (push-cert) are not supported");
  }
  return OnCommand(line);
}

Status ReceivePackParser::OnCommand(std::string_view line) {
  if (std::size_t nul = line.find('\0'); nul != std::string_view::npos) {
    // Capabilities ride on the first command only.
    if (saw_command_) return Fail("NUL in a ref update after the first");
    std::string_view caps = line.substr(nul + 1);
    line = line.substr(0, nul);
    if (caps.find('\0') != std::string_view::npos || HasControl(caps)) {
      return Fail("capability list contains a control character");
    }
    while (!caps.empty()) {
      std::size_t sp = caps.find(' ');
      std::string_view cap = caps.substr(0, sp);
      if (!cap.empty()) commands_.capabilities.emplace_back(cap);
      if (sp == std::string_view::npos) break;
      caps.remove_prefix(sp + 1);
    }
    for (const std::string& cap : commands_.capabilities) {
      if (!cap.starts_with("object-format=")) continue;
      std::string_view format = std::string_view(cap).substr(14);
      std::size_t size = format == "sha1"     ? kSha1Hex
                         : format == "sha256" ? kSha256Hex
                                              : 0;
      if (size == 0) {
        return Fail("unsupported object format `" + Shown(format) + "`");
      }
      if (oid_size_ != 0 && oid_size_ != size) {
        return Fail("object ids do not match object-format `" +
                    std::string(format) + "`");
      }
      oid_size_ = size;
      object_format_ = format;
    }
  }
  if (commands_.updates.size() >= kMaxRefUpdates) {
    return Fail("too many ref updates (at most 10000 in one push)");
  }
  // <old-oid> SP <new-oid> SP <refname>
  std::size_t size = line.find(' ');
  if ((size != kSha1Hex && size != kSha256Hex) || line.size() < 2 * size + 2 ||
      line[2 * size + 1] != ' ') {
    return Fail("malformed ref update `" + Shown(line) + "`");
  }
  RefUpdate u;
  u.old_oid = line.substr(0, size);
  u.new_oid = line.substr(size + 1, size);
  std::string_view ref = line.substr(2 * size + 2);
  if (Status s = CheckOid(u.old_oid); !s) return s;
  if (Status s = CheckOid(u.new_oid); !s) return s;
  // git always sends full names; CanonicalRef would expand a short one.
  auto canonical = CanonicalRef(ref);
  if (!ref.starts_with("refs/") || !canonical || *canonical != ref) {
    return Fail("ref name `" + Shown(ref) + "` is not a valid ref");
  }
  u.ref = std::string(ref);
  u.is_create = IsZeroOid(u.old_oid);
  u.is_delete = IsZeroOid(u.new_oid);
  if (u.is_create && u.is_delete) {
    return Fail("ref update for `" + u.ref + "` has two zero object ids");
  }
  // git never sends a ref twice; allowing it would leave two updates for
  // one ref to authorize and receive-pack to pick from.
  if (!refs_.insert(u.ref).second) {
    return Fail("ref `" + u.ref + "` is updated twice");
  }
  commands_.updates.push_back(std::move(u));
  saw_command_ = true;
  return {};
}

Status ReceivePackParser::CheckOid(std::string_view oid) {
  if (oid.size() != kSha1Hex && oid.size() != kSha256Hex) {
    return Fail("malformed object id `" + Shown(oid) + "`");
  }
  for (char c : oid) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Fail("object id is not hex");
    }
  }
  if (oid_size_ != 0 && oid_size_ != oid.size()) {
    if (!object_format_.empty()) {
      return Fail("object ids do not match object-format `" + object_format_ +
                  "`");
    }
    return Fail("object ids of different lengths (SHA-1 and SHA-256 mixed)");
  }
  oid_size_ = oid.size();
  return {};
}

std::string PktLine(std::string_view payload) {
  payload = payload.substr(0, kMaxPktLine - 4);
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t n = payload.size() + 4;
  std::string out;
  out.reserve(n);
  out += kHex[(n >> 12) & 0xf];
  out += kHex[(n >> 8) & 0xf];
  out += kHex[(n >> 4) & 0xf];
  out += kHex[n & 0xf];
  out.append(payload);
  return out;
}

std::string RejectPush(const PushCommands& cmds, std::string_view reason) {
  // One line, no control characters: it is printed by git and sits inside
  // "ng <ref> <reason>\n", where a LF would forge another status line.
  std::string why;
  for (char c : reason.substr(0, 1000)) {
    unsigned char u = static_cast<unsigned char>(c);
    why += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  if (why.empty()) why = "push rejected";
  const std::string message = "tether: " + why + "\n";

  const bool report = cmds.HasCapability("report-status") ||
                      cmds.HasCapability("report-status-v2");
  std::string status;
  if (report) {
    // "unpack ok" makes git print every "ng" as "[remote rejected] (why)";
    // an unpack error would hide the reason behind "remote unpack failed".
    status += PktLine("unpack ok\n");
    for (const RefUpdate& u : cmds.updates) {
      status += PktLine("ng " + u.ref + " " + why + "\n");
    }
    status += "0000";
  }

  const bool band64k = cmds.HasCapability("side-band-64k");
  if (!band64k && !cmds.HasCapability("side-band")) {
    // Without report-status git reads no answer at all and cannot show
    // why; the ERR line is there for anyone reading the body.
    return report ? status : PktLine("ERR " + message);
  }
  const std::size_t max_data = (band64k ? kMaxPktLine : 1000) - 5;
  auto band = [&](char number, std::string_view data) {
    std::string out;
    for (std::size_t at = 0; at < data.size(); at += max_data) {
      out += PktLine(std::string(1, number) +
                     std::string(data.substr(at, max_data)));
    }
    return out;
  };
  // Band 2 is what git prints as "remote: ..." before the ref table. Band
  // 3 is a fatal error, printed the same way: the only way to fail a push
  // whose client asked for no status report (git then still lists the refs
  // as pushed, but exits non-zero).
  std::string body =
      report ? band('\2', message) + band('\1', status) : band('\3', message);
  body += "0000";
  return body;
}

}  // namespace tether::proxy
