// Names from the system, shown on a terminal and carried in JSON without loss (names.hpp).
#include "names.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ipckit::cli {
namespace {

// The length of the valid UTF-8 sequence at `at` (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 when the byte there does not start one. `code` gets its value.
std::size_t utf8_sequence(std::string_view s, std::size_t at, std::uint32_t& code) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) {
    code = lead;
    return 1;
  }
  std::size_t n = 0;
  std::uint32_t min = 0;
  if ((lead & 0xE0) == 0xC0) {
    n = 2, code = lead & 0x1FU, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    n = 3, code = lead & 0x0FU, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    n = 4, code = lead & 0x07U, min = 0x10000;
  } else {
    return 0;
  }
  if (at + n > s.size()) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(at + i) & 0x3FU);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return n;
}

void append_hex_byte(std::string& out, unsigned char b, bool escaped) {
  char text[8];
  std::snprintf(text, sizeof text, escaped ? "\\x%02x" : "%02x", b);
  out += text;
}

}  // namespace

std::string shown(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size();) {
    std::uint32_t code = 0;
    const std::size_t n = utf8_sequence(raw, i, code);
    const bool control = code < 0x20 || code == 0x7F || (code >= 0x80 && code < 0xA0);
    if (n == 0 || control) {
      // A control character as its bytes (C1 controls are two), an invalid byte alone.
      for (std::size_t k = 0; k < (n == 0 ? 1 : n); ++k)
        append_hex_byte(out, static_cast<unsigned char>(raw[i + k]), true);
      i += n == 0 ? 1 : n;
      continue;
    }
    if (code == '\\') {
      out += "\\\\";
    } else {
      out.append(raw.substr(i, n));
    }
    i += n;
  }
  return out;
}

void put_name(nlohmann::ordered_json& row, const std::string& key, std::string_view raw) {
  std::string text;
  bool exact = true;
  for (std::size_t i = 0; i < raw.size();) {
    std::uint32_t code = 0;
    const std::size_t n = utf8_sequence(raw, i, code);
    if (n == 0) {
      text += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      exact = false;
      ++i;
      continue;
    }
    text.append(raw.substr(i, n));
    i += n;
  }
  row[key] = text;
  if (exact) return;
  std::string hex;
  for (const char c : raw) append_hex_byte(hex, static_cast<unsigned char>(c), false);
  row[key + "_hex"] = hex;
}

nlohmann::ordered_json named_row(std::string_view raw) {
  nlohmann::ordered_json row = nlohmann::ordered_json::object();
  put_name(row, "name", raw);
  return row;
}

}  // namespace ipckit::cli
