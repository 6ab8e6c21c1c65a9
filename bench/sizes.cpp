#include "sizes.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace ipckit::bench {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

[[noreturn]] void bad_size(std::string_view text, std::string_view why) {
  throw std::invalid_argument("bad message size \"" + std::string(text) +
                              "\": " + std::string(why) +
                              "; write bytes with an optional unit K, KiB, M or MiB "
                              "(powers of 1024), e.g. 64,4K,1MiB");
}

}  // namespace

std::size_t parse_size(std::string_view text) {
  const std::string_view s = trim(text);
  if (s.empty()) bad_size(text, "it is empty");
  std::uint64_t number = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), number);
  if (ec == std::errc::result_out_of_range) bad_size(text, "the number is too large");
  if (ec != std::errc{} || end == s.data()) bad_size(text, "it does not start with a number");
  const std::string unit = lower(trim(std::string_view(end, s.data() + s.size() - end)));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    scale = 1024;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    scale = std::uint64_t{1} << 20;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    scale = std::uint64_t{1} << 30;
  } else {
    bad_size(text, "unknown unit \"" + std::string(end, s.data() + s.size() - end) + "\"");
  }
  if (number > std::numeric_limits<std::uint64_t>::max() / scale) {
    bad_size(text, "the number is too large");
  }
  const std::uint64_t bytes = number * scale;
  if (bytes < kMinMessageSize) {
    throw std::invalid_argument("message size \"" + std::string(text) + "\" is " +
                                std::to_string(bytes) + " bytes, smaller than the " +
                                std::to_string(kMinMessageSize) +
                                "-byte header every message carries (sequence number and "
                                "flags); use at least " +
                                std::to_string(kMinMessageSize));
  }
  if (bytes > kMaxMessageSize) {
    throw std::invalid_argument("message size \"" + std::string(text) + "\" is larger than " +
                                format_size(kMaxMessageSize) + ", the most the bench sends");
  }
  return static_cast<std::size_t>(bytes);
}

std::vector<std::size_t> parse_sizes(std::string_view list) {
  if (trim(list).empty()) {
    throw std::invalid_argument(
        "the size list is empty; give sizes separated by commas, "
        "e.g. 64,4K,1M");
  }
  std::vector<std::size_t> sizes;
  while (true) {
    const auto comma = list.find(',');
    const std::size_t size = parse_size(list.substr(0, comma));
    if (std::find(sizes.begin(), sizes.end(), size) == sizes.end()) sizes.push_back(size);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return sizes;
}

std::string format_size(std::size_t bytes) {
  constexpr std::size_t kKiB = 1024;
  constexpr std::size_t kMiB = kKiB * 1024;
  constexpr std::size_t kGiB = kMiB * 1024;
  if (bytes >= kGiB && bytes % kGiB == 0) return std::to_string(bytes / kGiB) + " GiB";
  if (bytes >= kMiB && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  if (bytes >= kKiB && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + " KiB";
  return std::to_string(bytes) + " B";
}

}  // namespace ipckit::bench
