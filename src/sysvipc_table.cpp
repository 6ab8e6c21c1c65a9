// The reader of /proc/sysvipc/{shm,msg,sem}: see sysvipc_table.hpp.

#include "sysvipc_table.hpp"

#include <charconv>
#include <cstdio>
#include <string>
#include <system_error>

#include "sys.hpp"

namespace ipckit::detail {
namespace {

std::vector<std::string> split_whitespace(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

template <class T>
bool parse_whole(const std::string& word, int base, T& value) {
  auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value, base);
  return ec == std::errc{} && end == word.data() + word.size();
}

}  // namespace

SysvipcTable SysvipcTable::read(const std::string& path, std::initializer_list<const char*> required) {
  SysvipcTable table;
  table.path_ = path;
  const std::string text = sys::read_text_file(path);
  std::string_view rest = text;
  bool header_seen = false;
  std::size_t width = 0;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    auto words = split_whitespace(line);
    if (words.empty()) continue;
    if (!header_seen) {
      header_seen = true;
      width = words.size();
      for (std::size_t i = 0; i < words.size(); ++i) table.columns_.emplace(words[i], i);
      for (const char* needed : required) {
        if (!table.columns_.contains(std::string_view{needed})) {
          sys::fail("parse", path, 0,
                    "the header line has no \"" + std::string(needed) + "\" column: \"" +
                        std::string(line) + "\"");
        }
      }
      continue;
    }
    if (words.size() != width) {
      sys::fail("parse", path, 0,
                std::to_string(words.size()) + " columns where the header has " +
                    std::to_string(width) + " in line \"" + std::string(line) + "\"");
    }
    table.lines_.emplace_back(line);
    table.rows_.push_back(std::move(words));
  }
  if (!header_seen) sys::fail("parse", path, 0, "the file is empty; expected a header line");
  return table;
}

bool SysvipcTable::has_column(std::string_view column) const { return columns_.find(column) != columns_.end(); }

const std::string* SysvipcTable::cell(std::size_t row, std::string_view column) const {
  auto it = columns_.find(column);
  if (it == columns_.end()) return nullptr;
  return &rows_.at(row).at(it->second);
}

void SysvipcTable::bad_cell(std::size_t row, std::string_view column, const std::string& text) const {
  sys::fail("parse", path_, 0,
            "column " + std::string(column) + " is not a number (\"" + text + "\") in line \"" +
                lines_.at(row) + "\"");
}

std::int64_t SysvipcTable::number(std::size_t row, std::string_view column, int base) const {
  const std::string* text = cell(row, column);
  if (text == nullptr) return 0;
  std::int64_t value = 0;
  if (!parse_whole(*text, base, value)) bad_cell(row, column, *text);
  return value;
}

std::uint64_t SysvipcTable::unsigned_number(std::size_t row, std::string_view column, int base) const {
  const std::string* text = cell(row, column);
  if (text == nullptr) return 0;
  std::uint64_t value = 0;
  if (!parse_whole(*text, base, value)) bad_cell(row, column, *text);
  return value;
}

key_t SysvipcTable::key(std::size_t row) const {
  const std::string* text = cell(row, "key");
  std::int32_t value = 0;
  if (text == nullptr || !parse_whole(*text, 10, value)) bad_cell(row, "key", text ? *text : "");
  return static_cast<key_t>(value);
}

std::optional<std::size_t> SysvipcTable::find(std::string_view id_column, int id) const {
  for (std::size_t row = 0; row < rows_.size(); ++row)
    if (number(row, id_column) == id) return row;
  return std::nullopt;
}

std::string key_text(key_t key) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", static_cast<std::uint32_t>(key));
  return text;
}

std::string perms_text(unsigned mode) { return sys::mode_text(mode & 0777U); }

}  // namespace ipckit::detail
