#include "core/time.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace tether {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatRfc3339(std::int64_t unix_ms) {
  std::int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  int ms = static_cast<int>(unix_ms - secs * 1000);
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (ms != 0) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", ms);
    out += frac;
  }
  out += 'Z';
  return out;
}

Result<std::int64_t> ParseTimeMs(std::string_view s) {
  auto bad = [&] {
    return MakeError("invalid_time",
                     "`" + std::string(s.substr(0, 64)) +
                         "` is not an RFC 3339 time, Unix seconds or a "
                         "duration such as 15m");
  };
  if (s.empty() || s.size() > 40) return bad();
  bool digits = true;
  for (char c : s) digits &= c >= '0' && c <= '9';
  if (digits) {
    if (s.size() > 12) return bad();
    return static_cast<std::int64_t>(std::stoll(std::string(s))) * 1000;
  }
  // A duration before now: 30s, 15m, 2h, 7d.
  if (s.size() >= 2 && s.size() <= 10) {
    std::string_view n = s.substr(0, s.size() - 1);
    bool number = true;
    for (char c : n) number &= c >= '0' && c <= '9';
    std::int64_t unit = 0;
    switch (s.back()) {
      case 's':
        unit = 1000;
        break;
      case 'm':
        unit = 60'000;
        break;
      case 'h':
        unit = 3'600'000;
        break;
      case 'd':
        unit = 86'400'000;
        break;
      default:
        break;
    }
    if (number && unit) {
      return NowMs() - std::stoll(std::string(n)) * unit;
    }
  }
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int Y, M, D, h, m, sec;
  if (s.size() < 20 || !num(0, 4, Y) || s[4] != '-' || !num(5, 2, M) ||
      s[7] != '-' || !num(8, 2, D) || (s[10] != 'T' && s[10] != 't') ||
      !num(11, 2, h) || s[13] != ':' || !num(14, 2, m) || s[16] != ':' ||
      !num(17, 2, sec)) {
    return bad();
  }
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return bad();
  std::size_t i = 19;
  int ms = 0;
  if (s[i] == '.') {
    ++i;
    int scale = 100, count = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ms += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
      ++count;
    }
    if (count == 0) return bad();
  }
  int offset_min = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) {
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') &&
             s[i + 3] == ':') {
    int oh, om;
    if (!num(i + 1, 2, oh) || !num(i + 4, 2, om) || oh > 23 || om > 59)
      return bad();
    offset_min = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
  } else {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  std::int64_t secs = static_cast<std::int64_t>(timegm(&tm));
  return (secs - offset_min * 60) * 1000 + ms;
}

}  // namespace tether
