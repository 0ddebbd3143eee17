#include "proxy/pktline.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace tether::proxy {
namespace {

using State = ReceivePackParser::State;

const std::string kZero(40, '0');
const std::string kA = "a" + std::string(39, '1');
const std::string kB = "b" + std::string(39, '2');
const std::string kC = "c" + std::string(39, '3');
const std::string kCaps = "report-status side-band-64k agent=git/2.39.5";

// Bodies captured from git 2.39.5 pushing over smart HTTP (see
// data/capture_pushes.py, which regenerates them).
std::string Fixture(const std::string& name) {
  std::ifstream in(
      std::string(TETHER_SOURCE_DIR) + "/tests/unit/proxy/data/" + name,
      std::ios::binary);
  EXPECT_TRUE(in) << name;
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

std::string Command(const std::string& old_oid, const std::string& new_oid,
                    const std::string& ref) {
  return old_oid + " " + new_oid + " " + ref;
}

std::string FirstCommand(const std::string& old_oid, const std::string& new_oid,
                         const std::string& ref,
                         const std::string& caps = kCaps) {
  return Command(old_oid, new_oid, ref) + std::string(1, '\0') + caps;
}

const std::string kPack = std::string("PACK\0\0\0\2\0\0\0\1", 12) + "xyz";

// A push as git builds it: one update of main carrying the capabilities.
std::string HandBuiltPush() {
  return PktLine(FirstCommand(kA, kB, "refs/heads/main")) + "0000" + kPack;
}

struct Fed {
  Result<State> result;
  std::size_t section_end;  // offset in the body where the pack begins
};

// Feeds `body` cut at the ascending offsets `cuts`, as the proxy would feed
// the chunks of a streamed body, until kDone, an error, or the end.
Fed FeedInChunks(ReceivePackParser& parser, std::string_view body,
                 const std::vector<std::size_t>& cuts = {}) {
  std::size_t at = 0;
  Result<State> last = State::kNeedMore;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(body.size());
  for (std::size_t end : ends) {
    std::string_view chunk = body.substr(at, end - at);
    std::size_t consumed = 12345;
    last = parser.Feed(chunk, consumed);
    if (!last.ok()) return {last, at + consumed};
    EXPECT_LE(consumed, chunk.size());
    if (*last == State::kNeedMore) {
      EXPECT_EQ(consumed, chunk.size());
    }
    at += consumed;
    if (*last == State::kDone) break;
  }
  return {last, at};
}

Fed ParseWhole(std::string_view body, PushCommands* out = nullptr) {
  ReceivePackParser parser;
  Fed fed = FeedInChunks(parser, body);
  if (out != nullptr) *out = parser.commands();
  return fed;
}

// The message of a body that must fail to parse.
std::string ErrorOf(std::string_view body) {
  Fed fed = ParseWhole(body);
  if (fed.result.ok()) return "(no error)";
  EXPECT_EQ(fed.result.error().code, "invalid_push");
  return fed.result.error().message;
}

TEST(PktLineTest, FormatsLengthIncludingItself) {
  EXPECT_EQ(PktLine(""), "0004");
  EXPECT_EQ(PktLine("a\n"), "0006a\n");
  EXPECT_EQ(PktLine(std::string(300, 'x')).substr(0, 4), "0130");
}

TEST(ReceivePackParserTest, HandBuiltPushParsesAtEveryChunkBoundary) {
  const std::string body = HandBuiltPush();
  const std::size_t pack_at = body.size() - kPack.size();
  for (std::size_t i = 0; i <= body.size(); ++i) {
    for (std::size_t j = i; j <= body.size(); ++j) {
      ReceivePackParser parser;
      Fed fed = FeedInChunks(parser, body, {i, j});
      ASSERT_TRUE(fed.result.ok()) << i << " " << j;
      ASSERT_EQ(*fed.result, State::kDone) << i << " " << j;
      ASSERT_EQ(fed.section_end, pack_at) << i << " " << j;
      const PushCommands& cmds = parser.commands();
      ASSERT_EQ(cmds.updates.size(), 1u);
      EXPECT_EQ(cmds.updates[0].old_oid, kA);
      EXPECT_EQ(cmds.updates[0].new_oid, kB);
      EXPECT_EQ(cmds.updates[0].ref, "refs/heads/main");
      EXPECT_EQ(cmds.capabilities,
                (std::vector<std::string>{"report-status", "side-band-64k",
                                          "agent=git/2.39.5"}));
      EXPECT_TRUE(cmds.has_pack);
    }
  }
}

TEST(ReceivePackParserTest, CapturedGitPushParsesAtEveryChunkBoundary) {
  const std::string body = Fixture("push_create.bin");
  const std::size_t pack_at = body.find("PACK");
  ASSERT_NE(pack_at, std::string::npos);
  for (std::size_t i = 0; i <= body.size(); ++i) {
    ReceivePackParser parser;
    Fed fed = FeedInChunks(parser, body, {i});
    ASSERT_TRUE(fed.result.ok()) << i;
    ASSERT_EQ(*fed.result, State::kDone) << i;
    ASSERT_EQ(fed.section_end, pack_at) << i;
    const PushCommands& cmds = parser.commands();
    ASSERT_EQ(cmds.updates.size(), 1u);
    EXPECT_EQ(cmds.updates[0].ref, "refs/heads/main");
    EXPECT_TRUE(cmds.updates[0].is_create);
    EXPECT_FALSE(cmds.updates[0].is_delete);
    EXPECT_TRUE(cmds.HasCapability("report-status-v2"));
    EXPECT_TRUE(cmds.HasCapability("side-band-64k"));
    EXPECT_TRUE(cmds.HasCapability("object-format=sha1"));
    EXPECT_TRUE(cmds.HasCapability("agent=git/2.39.5"));
    EXPECT_TRUE(cmds.has_pack);
  }
  // And one byte at a time.
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < body.size(); ++i) every.push_back(i);
  ReceivePackParser parser;
  Fed fed = FeedInChunks(parser, body, every);
  ASSERT_TRUE(fed.result.ok());
  EXPECT_EQ(fed.section_end, pack_at);
}

TEST(ReceivePackParserTest, CapturedUpdateWithPushOptions) {
  const std::string body = Fixture("push_update_options.bin");
  PushCommands cmds;
  Fed fed = ParseWhole(body, &cmds);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  EXPECT_EQ(fed.section_end, body.find("PACK"));
  ASSERT_EQ(cmds.updates.size(), 2u);
  EXPECT_EQ(cmds.updates[0].ref, "refs/heads/main");
  EXPECT_FALSE(cmds.updates[0].is_create);
  EXPECT_FALSE(cmds.updates[0].is_delete);
  EXPECT_EQ(cmds.updates[1].ref, "refs/heads/feature");
  EXPECT_TRUE(cmds.updates[1].is_create);
  EXPECT_TRUE(cmds.HasCapability("push-options"));
  EXPECT_EQ(cmds.push_options,
            (std::vector<std::string>{"ci.skip", "reviewer=ada lovelace"}));
  EXPECT_TRUE(cmds.has_pack);
}

TEST(ReceivePackParserTest, CapturedDeleteOnlyPushHasNoPack) {
  const std::string body = Fixture("push_delete.bin");
  PushCommands cmds;
  Fed fed = ParseWhole(body, &cmds);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  EXPECT_EQ(*fed.result, State::kDone);
  EXPECT_EQ(fed.section_end, body.size());
  ASSERT_EQ(cmds.updates.size(), 1u);
  EXPECT_EQ(cmds.updates[0].ref, "refs/heads/feature");
  EXPECT_TRUE(cmds.updates[0].is_delete);
  EXPECT_FALSE(cmds.updates[0].is_create);
  EXPECT_EQ(cmds.updates[0].new_oid, kZero);
  EXPECT_FALSE(cmds.has_pack);
}

TEST(ReceivePackParserTest, CapturedShallowPushRecordsShallowLines) {
  const std::string body = Fixture("push_shallow.bin");
  PushCommands cmds;
  Fed fed = ParseWhole(body, &cmds);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  EXPECT_EQ(fed.section_end, body.find("PACK"));
  ASSERT_EQ(cmds.shallow.size(), 1u);
  EXPECT_EQ(cmds.shallow[0].size(), 40u);
  ASSERT_EQ(cmds.updates.size(), 1u);
  // The shallow root is the commit the update starts from.
  EXPECT_EQ(cmds.updates[0].old_oid, cmds.shallow[0]);
}

TEST(ReceivePackParserTest, CapturedSha256Push) {
  const std::string body = Fixture("push_sha256.bin");
  PushCommands cmds;
  Fed fed = ParseWhole(body, &cmds);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  EXPECT_EQ(fed.section_end, body.find("PACK"));
  ASSERT_EQ(cmds.updates.size(), 1u);
  EXPECT_EQ(cmds.updates[0].new_oid.size(), 64u);
  EXPECT_TRUE(cmds.updates[0].is_create);
  EXPECT_TRUE(cmds.HasCapability("object-format=sha256"));
}

TEST(ReceivePackParserTest, CreateUpdateAndDeleteFlags) {
  const std::string body = PktLine(FirstCommand(kZero, kA, "refs/heads/new")) +
                           PktLine(Command(kB, kC, "refs/heads/main") + "\n") +
                           PktLine(Command(kC, kZero, "refs/tags/v1")) +
                           "0000" + kPack;
  PushCommands cmds;
  Fed fed = ParseWhole(body, &cmds);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  ASSERT_EQ(cmds.updates.size(), 3u);
  EXPECT_TRUE(cmds.updates[0].is_create);
  EXPECT_FALSE(cmds.updates[0].is_delete);
  EXPECT_FALSE(cmds.updates[1].is_create);
  EXPECT_FALSE(cmds.updates[1].is_delete);
  // A trailing LF is not part of the ref name.
  EXPECT_EQ(cmds.updates[1].ref, "refs/heads/main");
  EXPECT_FALSE(cmds.updates[2].is_create);
  EXPECT_TRUE(cmds.updates[2].is_delete);
  EXPECT_TRUE(cmds.has_pack);
  EXPECT_EQ(fed.section_end, body.size() - kPack.size());
}

TEST(ReceivePackParserTest, PushOptionsFollowTheCommandsOnlyWhenAnnounced) {
  const std::string options = PktLine("ci.skip") + PktLine("topic=a b\n");
  const std::string with = PktLine(FirstCommand(kA, kB, "refs/heads/main",
                                                kCaps + " push-options")) +
                           "0000" + options + "0000" + kPack;
  PushCommands cmds;
  Fed fed = ParseWhole(with, &cmds);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  EXPECT_EQ(cmds.push_options,
            (std::vector<std::string>{"ci.skip", "topic=a b"}));
  EXPECT_EQ(fed.section_end, with.size() - kPack.size());

  // Without the capability the same bytes are the pack's business.
  const std::string without = PktLine(FirstCommand(kA, kB, "refs/heads/main")) +
                              "0000" + options + "0000";
  fed = ParseWhole(without, &cmds);
  ASSERT_TRUE(fed.result.ok());
  EXPECT_TRUE(cmds.push_options.empty());
  EXPECT_EQ(fed.section_end, without.size() - options.size() - 4);
}

TEST(ReceivePackParserTest, DeleteOnlyPushWithOptionsEndsAfterOptions) {
  const std::string body =
      PktLine(FirstCommand(kA, kZero, "refs/heads/old", "push-options")) +
      "0000" + PktLine("ci.skip") + "0000";
  PushCommands cmds;
  Fed fed = ParseWhole(body, &cmds);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  EXPECT_EQ(*fed.result, State::kDone);
  EXPECT_EQ(fed.section_end, body.size());
  EXPECT_FALSE(cmds.has_pack);
  EXPECT_EQ(cmds.push_options, (std::vector<std::string>{"ci.skip"}));
}

TEST(ReceivePackParserTest, FirstLineWithoutCapabilitiesIsAccepted) {
  const std::string body =
      PktLine(Command(kA, kB, "refs/heads/main")) + "0000" + kPack;
  PushCommands cmds;
  Fed fed = ParseWhole(body, &cmds);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  EXPECT_TRUE(cmds.capabilities.empty());
  ASSERT_EQ(cmds.updates.size(), 1u);
}

TEST(ReceivePackParserTest, EmptyCommandListUpdatesNothing) {
  PushCommands cmds;
  Fed fed = ParseWhole("0000", &cmds);
  ASSERT_TRUE(fed.result.ok());
  EXPECT_EQ(*fed.result, State::kDone);
  EXPECT_TRUE(cmds.updates.empty());
  EXPECT_FALSE(cmds.has_pack);
}

TEST(ReceivePackParserTest, TruncatedSectionNeedsMore) {
  const std::string body = HandBuiltPush();
  // A declared length beyond the data so far is not an error yet: the rest
  // may be in the next chunk. The caller rejects a body that ends here.
  for (std::size_t n : {std::size_t{0}, std::size_t{2}, std::size_t{4},
                        std::size_t{30}, body.size() - kPack.size() - 1}) {
    Fed fed = ParseWhole(body.substr(0, n));
    ASSERT_TRUE(fed.result.ok()) << n;
    EXPECT_EQ(*fed.result, State::kNeedMore) << n;
  }
  Fed fed = ParseWhole("00ff" + std::string(20, 'a'));
  ASSERT_TRUE(fed.result.ok());
  EXPECT_EQ(*fed.result, State::kNeedMore);
}

TEST(ReceivePackParserTest, MalformedPktLinesAreRejected) {
  EXPECT_EQ(ErrorOf("00zz"), "malformed pkt-line length `00zz`");
  EXPECT_EQ(ErrorOf("-001"), "malformed pkt-line length `-001`");
  EXPECT_EQ(ErrorOf(std::string("00\n\0", 4)),
            "malformed pkt-line length `00??`");
  // Shorter than the length field itself, and v2's delim/response-end.
  for (const char* len : {"0001", "0002", "0003"}) {
    EXPECT_EQ(ErrorOf(len),
              std::string("malformed pkt-line length `") + len + "`");
  }
  EXPECT_EQ(ErrorOf("fff1"), "pkt-line longer than 65520 bytes");
  EXPECT_EQ(ErrorOf("ffff"), "pkt-line longer than 65520 bytes");
  EXPECT_EQ(ErrorOf("0004"), "empty pkt-line in the push commands");
  EXPECT_EQ(ErrorOf(PktLine("\n")), "empty pkt-line in the push commands");
  // The longest pkt-line is fine (and then incomplete).
  Fed fed = ParseWhole("fff0");
  ASSERT_TRUE(fed.result.ok());
}

TEST(ReceivePackParserTest, MalformedCommandsAreRejected) {
  const std::string upper = "A" + std::string(39, '1');
  const std::string sha256 = std::string(64, 'd');
  std::map<std::string, std::string> cases = {
      {PktLine(FirstCommand(upper, kB, "refs/heads/main")),
       "object id is not hex"},
      {PktLine(FirstCommand(kA, "g" + std::string(39, '1'), "refs/heads/m")),
       "object id is not hex"},
      {PktLine(FirstCommand(kA, kB, "refs/heads/main")) +
           PktLine(Command(sha256, sha256, "refs/heads/x")),
       "object ids of different lengths (SHA-1 and SHA-256 mixed)"},
      {PktLine(FirstCommand(kA, kB, "refs/heads/main", "object-format=sha256")),
       "object ids do not match object-format `sha256`"},
      {PktLine(FirstCommand(kA, kB, "refs/heads/main", "object-format=md5")),
       "unsupported object format `md5`"},
      {PktLine(FirstCommand(kZero, kZero, "refs/heads/main")),
       "ref update for `refs/heads/main` has two zero object ids"},
      {PktLine(FirstCommand(kA, kB, "refs/heads/main")) +
           PktLine(Command(kA, kC, "refs/heads/main")),
       "ref `refs/heads/main` is updated twice"},
      {PktLine(FirstCommand(kA, kB, "refs/heads/main")) +
           PktLine(FirstCommand(kA, kC, "refs/heads/x")),
       "NUL in a ref update after the first"},
      {PktLine(FirstCommand(kA, kB, "refs/heads/main", std::string("a\0b", 3))),
       "capability list contains a control character"},
      {PktLine(FirstCommand(kA, kB, "refs/heads/main", "a\tb")),
       "capability list contains a control character"},
      {PktLine(kA + " " + kB), "malformed ref update `" + kA + " " + kB + "`"},
      {PktLine(kA + " " + kB + " "), "ref name `` is not a valid ref"},
      {PktLine("abc def refs/heads/main"),
       "malformed ref update `abc def refs/heads/main`"},
      {PktLine(kA + "  " + kB + " refs/heads/main"),
       "malformed ref update `" + kA + "  " + kB + " refs/heads/main`"},
      {PktLine("ERR go away"), "malformed ref update `ERR go away`"},
      {PktLine(FirstCommand(kA, kB, "refs/heads/main")) +
           PktLine("shallow " + kC),
       "`shallow` line after a ref update"},
      {PktLine("shallow " + kC.substr(1)),
       "malformed object id `" + kC.substr(1) + "`"},
      {PktLine("push-cert" + std::string(1, '\0') + kCaps),
       "signed pushes (push-cert) are not supported"},
      {PktLine(FirstCommand(kA, kB, "refs/heads/main", "push-options")) +
           "0000" + PktLine("a\rb"),
       "push option `a?b` contains a control character"},
  };
  for (const auto& [body, message] : cases) {
    EXPECT_EQ(ErrorOf(body), message);
  }
}

TEST(ReceivePackParserTest, RefNamesMustBeFullAndValid) {
  for (const char* ref : {"refs/heads/a..b",
                          "refs/heads/x.lock",
                          "HEAD",
                          "main",
                          "heads/main",
                          "refs/heads/",
                          "refs/heads",
                          "refs//heads/x",
                          "refs/heads/a b",
                          "refs/heads/a~1",
                          "refs/heads/a^",
                          "refs/heads/a:b",
                          "refs/heads/a?",
                          "refs/heads/a*",
                          "refs/heads/a[",
                          "refs/heads/a\\b",
                          "refs/heads/.hidden",
                          "refs/heads/a/",
                          "refs/heads/a.",
                          "refs/heads/a@{1}",
                          "refs/heads/a\x7f",
                          "refs/heads/a\tb"}) {
    const std::string body = PktLine(FirstCommand(kA, kB, ref)) + "0000";
    std::string shown;
    for (char c : std::string(ref)) {
      shown += (c < 0x20 || c == 0x7f) ? '?' : c;
    }
    EXPECT_EQ(ErrorOf(body), "ref name `" + shown + "` is not a valid ref")
        << ref;
  }
  for (const char* ref : {"refs/heads/main", "refs/tags/v1.0",
                          "refs/heads/agent/t0123456789abcdef01234567/fix",
                          "refs/notes/commits", "refs/heads/caf\xc3\xa9"}) {
    PushCommands cmds;
    Fed fed = ParseWhole(PktLine(FirstCommand(kA, kB, ref)) + "0000", &cmds);
    ASSERT_TRUE(fed.result.ok()) << ref << ": " << fed.result.error().message;
    EXPECT_EQ(cmds.updates[0].ref, ref);
  }
}

TEST(ReceivePackParserTest, TooManyRefUpdatesAreRejected) {
  std::string body = PktLine(FirstCommand(kA, kB, "refs/r/0"));
  for (std::size_t i = 1; i < kMaxRefUpdates; ++i) {
    body += PktLine(Command(kA, kB, "refs/r/" + std::to_string(i)));
  }
  PushCommands cmds;
  Fed fed = ParseWhole(body + "0000", &cmds);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  EXPECT_EQ(cmds.updates.size(), kMaxRefUpdates);
  body += PktLine(Command(kA, kB, "refs/r/one-more"));
  EXPECT_EQ(ErrorOf(body), "too many ref updates (at most 10000 in one push)");
}

TEST(ReceivePackParserTest, OversizeCommandSectionIsRejected) {
  std::string body =
      PktLine(FirstCommand(kA, kB, "refs/heads/main", "push-options")) + "0000";
  const std::string option = PktLine(std::string(kMaxPktLine - 4, 'o'));
  while (body.size() + option.size() <= kMaxCommandSection) body += option;
  // Up to the limit is fine.
  Fed fed = ParseWhole(body + "0000");
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().message;
  EXPECT_EQ(*fed.result, State::kDone);
  // The next line is refused from its length alone, before it arrives.
  EXPECT_EQ(ErrorOf(body + "fff0"), "push command section larger than 1 MiB");
}

TEST(ReceivePackParserTest, ErrorIsSticky) {
  ReceivePackParser parser;
  std::size_t consumed = 0;
  auto r = parser.Feed("00zz", consumed);
  ASSERT_FALSE(r.ok());
  r = parser.Feed(HandBuiltPush(), consumed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "malformed pkt-line length `00zz`");
  EXPECT_EQ(consumed, 0u);
}

TEST(ReceivePackParserTest, AfterDoneEverythingIsPack) {
  ReceivePackParser parser;
  std::size_t consumed = 0;
  const std::string body = HandBuiltPush();
  ASSERT_EQ(*parser.Feed(body, consumed), State::kDone);
  EXPECT_EQ(consumed, body.size() - kPack.size());
  ASSERT_EQ(*parser.Feed("0000garbage", consumed), State::kDone);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.commands().updates.size(), 1u);
}

// Splits a run of pkt-lines into their payloads, a flush-pkt as "<flush>".
std::vector<std::string> DecodePktLines(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    EXPECT_GE(s.size(), 4u);
    if (s.size() < 4) break;
    std::size_t n = std::stoul(std::string(s.substr(0, 4)), nullptr, 16);
    if (n == 0) {
      out.push_back("<flush>");
      s.remove_prefix(4);
      continue;
    }
    EXPECT_GE(n, 5u);
    EXPECT_LE(n, kMaxPktLine);
    EXPECT_LE(n, s.size());
    if (n > s.size()) break;
    out.emplace_back(s.substr(4, n - 4));
    s.remove_prefix(n);
  }
  return out;
}

// Demultiplexes a side-band response into its bands, checking that it ends
// with exactly one flush.
std::map<char, std::string> Demux(std::string_view body) {
  std::map<char, std::string> bands;
  std::vector<std::string> packets = DecodePktLines(body);
  EXPECT_FALSE(packets.empty());
  EXPECT_EQ(packets.back(), "<flush>");
  for (std::size_t i = 0; i + 1 < packets.size(); ++i) {
    EXPECT_NE(packets[i], "<flush>");
    bands[packets[i][0]] += packets[i].substr(1);
  }
  return bands;
}

PushCommands Commands(const std::string& caps,
                      std::vector<std::string> refs = {"refs/heads/main"}) {
  PushCommands cmds;
  std::string body;
  for (const std::string& ref : refs) {
    body += PktLine(body.empty() ? FirstCommand(kA, kB, ref, caps)
                                 : Command(kA, kB, ref));
  }
  Fed fed = ParseWhole(body + "0000", &cmds);
  EXPECT_TRUE(fed.result.ok());
  return cmds;
}

TEST(RejectPushTest, SideBandCarriesMessageAndReportStatus) {
  std::map<char, std::string> bands = Demux(RejectPush(
      Commands(kCaps, {"refs/heads/main", "refs/tags/v1"}), "policy says no"));
  EXPECT_EQ(bands['\2'], "tether: policy says no\n");
  EXPECT_EQ(DecodePktLines(bands['\1']),
            (std::vector<std::string>{
                "unpack ok\n", "ng refs/heads/main policy says no\n",
                "ng refs/tags/v1 policy says no\n", "<flush>"}));
  EXPECT_EQ(bands.count('\3'), 0u);
}

TEST(RejectPushTest, CapturedGitRequestGetsReportStatusV2) {
  PushCommands cmds;
  ASSERT_TRUE(ParseWhole(Fixture("push_create.bin"), &cmds).result.ok());
  std::map<char, std::string> bands = Demux(RejectPush(cmds, "denied"));
  EXPECT_NE(bands['\2'].find("tether: denied"), std::string::npos);
  std::vector<std::string> status = DecodePktLines(bands['\1']);
  ASSERT_EQ(status.size(), 3u);
  EXPECT_EQ(status[0], "unpack ok\n");
  EXPECT_EQ(status[1], "ng refs/heads/main denied\n");
}

TEST(RejectPushTest, WithoutSideBandReportStatusComesDirectly) {
  std::vector<std::string> lines = DecodePktLines(
      RejectPush(Commands("report-status-v2"), "approval required"));
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "unpack ok\n", "ng refs/heads/main approval required\n",
                       "<flush>"}));
}

TEST(RejectPushTest, SideBandWithoutReportStatusIsAFatalError) {
  std::map<char, std::string> bands =
      Demux(RejectPush(Commands("side-band-64k"), "no"));
  EXPECT_EQ(bands['\3'], "tether: no\n");
  EXPECT_EQ(bands.count('\1'), 0u);
}

TEST(RejectPushTest, NeitherSideBandNorReportStatus) {
  EXPECT_EQ(DecodePktLines(RejectPush(Commands(""), "no")),
            (std::vector<std::string>{"ERR tether: no\n"}));
}

TEST(RejectPushTest, ReasonCannotForgeStatusLines) {
  std::map<char, std::string> bands =
      Demux(RejectPush(Commands(kCaps), "no\nok refs/heads/main"));
  std::vector<std::string> status = DecodePktLines(bands['\1']);
  ASSERT_EQ(status.size(), 3u);
  EXPECT_EQ(status[1], "ng refs/heads/main no ok refs/heads/main\n");
  EXPECT_EQ(bands['\2'], "tether: no ok refs/heads/main\n");
  bands = Demux(RejectPush(Commands(kCaps), std::string("a\0\x1b[31mb\r", 9)));
  EXPECT_EQ(bands['\2'], "tether: a  [31mb \n");
  bands = Demux(RejectPush(Commands(kCaps), ""));
  EXPECT_EQ(bands['\2'], "tether: push rejected\n");
  bands = Demux(RejectPush(Commands(kCaps), std::string(5000, 'x')));
  EXPECT_EQ(bands['\2'], "tether: " + std::string(1000, 'x') + "\n");
}

TEST(RejectPushTest, LongReportIsSplitIntoBandPackets) {
  std::vector<std::string> refs;
  for (int i = 0; i < 3000; ++i) {
    refs.push_back("refs/heads/agent/t0123456789abcdef01234567/branch-" +
                   std::to_string(i));
  }
  const std::string body = RejectPush(Commands(kCaps, refs), "denied");
  std::map<char, std::string> bands = Demux(body);  // checks packet sizes
  std::vector<std::string> status = DecodePktLines(bands['\1']);
  ASSERT_EQ(status.size(), refs.size() + 2);
  EXPECT_EQ(status[3000], "ng " + refs[2999] + " denied\n");
  // Old side-band packets are at most 1000 bytes.
  const std::string old =
      RejectPush(Commands("report-status side-band", refs), "denied");
  for (const std::string& p : DecodePktLines(old)) {
    EXPECT_LE(p.size() + 4, 1000u);
  }
  EXPECT_EQ(DecodePktLines(Demux(old)['\1']).size(), refs.size() + 2);
}

}  // namespace
}  // namespace tether::proxy
