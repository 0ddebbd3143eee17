#include "proxy/stream_redactor.h"

#include <gtest/gtest.h>

namespace tether::proxy {
namespace {

// Feeds `body` in pieces of `step` bytes; returns what the agent gets.
std::string Through(StreamRedactor& r, const std::string& body,
                    std::size_t step) {
  std::string out;
  for (std::size_t at = 0; at < body.size(); at += step) {
    out += r.Push(std::string_view(body).substr(at, step));
  }
  out += r.Finish();
  return out;
}

TEST(StreamRedactor, MasksAValueSplitAcrossEveryBoundary) {
  const std::string secret = "ghs_0123456789abcdefSECRET";
  const std::string body = "{\"echo\":\"Bearer " + secret + "\",\"again\":\"" +
                           secret + secret + "\"}";
  for (std::size_t step = 1; step <= body.size(); ++step) {
    StreamRedactor r({secret});
    std::string out = Through(r, body, step);
    EXPECT_EQ(out.size(), body.size()) << step;
    EXPECT_EQ(out.find(secret), std::string::npos) << step;
    EXPECT_EQ(out.find("SECRET"), std::string::npos) << step;
    EXPECT_NE(out.find("[REDACTED]"), std::string::npos) << step;
  }
}

TEST(StreamRedactor, KeepsTheLengthAndEverythingElse) {
  StreamRedactor r({"tok3n-value-1234", "dG9rM24="});
  std::string out = Through(r, "a tok3n-value-1234 b dG9rM24= c", 5);
  EXPECT_EQ(out, "a [REDACTED]****** b [REDACTE c");
}

TEST(StreamRedactor, NothingToMaskPassesPiecesStraightThrough) {
  StreamRedactor r({"", ""});
  EXPECT_FALSE(r.active());
  std::string piece = "abc";
  EXPECT_EQ(r.Push(piece).data(), piece.data());
  EXPECT_TRUE(r.Finish().empty());
}

TEST(StreamRedactor, HoldsBackOnlyWhatCouldStartAValue) {
  StreamRedactor r({"0123456789"});
  EXPECT_EQ(r.Push("hello world"), "he");  // 9 bytes held back
  EXPECT_EQ(r.Push("!"), "l");
  EXPECT_EQ(r.Finish(), "lo world!");
}

}  // namespace
}  // namespace tether::proxy
