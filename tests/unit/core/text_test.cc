#include "core/text.h"

#include <gtest/gtest.h>

namespace tether {
namespace {

TEST(Text, LineColCountsCharactersNotBytes) {
  std::string_view text = "ab\ncé d";
  LineCol lc = ComputeLineCol(text, text.find('d'));
  EXPECT_EQ(lc.line, 2u);
  EXPECT_EQ(lc.column, 4u);
  EXPECT_EQ(ComputeLineCol(text, 0).column, 1u);
  EXPECT_EQ(ComputeLineCol(text, 999).line, 2u);
}

TEST(Text, LineAtReturnsTheWholeLine) {
  std::string_view text = "one\r\ntwo\nthree";
  EXPECT_EQ(LineAt(text, 0), "one");
  EXPECT_EQ(LineAt(text, 6), "two");
  EXPECT_EQ(LineAt(text, text.size()), "three");
}

TEST(Text, QuoteEscapesControlsAndTruncates) {
  EXPECT_EQ(Quote("a\nb\x01"), "`a\\nb\\x01`");
  EXPECT_EQ(Quote("abcdef", 3), "`abc...`");
}

TEST(Text, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain ✓ 😀"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
}

TEST(Text, AppendUtf8) {
  std::string s;
  AppendUtf8(s, U'é');
  AppendUtf8(s, U'😀');
  EXPECT_EQ(s, "é😀");
}

}  // namespace
}  // namespace tether
