#pragma once

// Private: one reader for /proc/sysvipc/shm, msg and sem, the files ipcs and lsipc read.
// They list every object of this IPC namespace whatever its mode, so they also answer "who
// owns it?" for objects this process may not IPC_STAT. Columns are found by the names of
// the header line: the kernel has added columns over time, so positions are not a contract.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ipckit::detail {

class SysvipcTable {
 public:
  /// Reads and parses `path`. Throws Error: the file cannot be read, it has no header, a
  /// `required` column is missing, a row has a different number of columns than the header
  /// (each names the file and the line).
  [[nodiscard]] static SysvipcTable read(const std::string& path,
                                         std::initializer_list<const char*> required);

  [[nodiscard]] std::size_t rows() const noexcept { return rows_.size(); }
  [[nodiscard]] bool has_column(std::string_view column) const;

  /// A column of a row as a decimal number (octal for base 8). 0 when the kernel has no
  /// such column (an optional one, like the times). Throws Error naming the file, line and
  /// column when the text is not a number of that type.
  [[nodiscard]] std::int64_t number(std::size_t row, std::string_view column, int base = 10) const;
  [[nodiscard]] std::uint64_t unsigned_number(std::size_t row, std::string_view column, int base = 10) const;
  /// The "key" column: printed as a signed int (%d), so keys above 0x7fffffff come out
  /// negative. Returns it as key_t.
  [[nodiscard]] key_t key(std::size_t row) const;
  /// The "perms" column: printed in octal, with flags (SHM_DEST...) above the 9 permission bits.
  [[nodiscard]] unsigned perms(std::size_t row) const { return static_cast<unsigned>(unsigned_number(row, "perms", 8)); }
  /// The row whose `id_column` ("shmid", "msqid", "semid") equals `id`, if any.
  [[nodiscard]] std::optional<std::size_t> find(std::string_view id_column, int id) const;

 private:
  std::string path_;
  std::map<std::string, std::size_t, std::less<>> columns_;
  std::vector<std::string> lines_;                 // each row's text, for messages
  std::vector<std::vector<std::string>> rows_;
  [[nodiscard]] const std::string* cell(std::size_t row, std::string_view column) const;
  [[noreturn]] void bad_cell(std::size_t row, std::string_view column, const std::string& text) const;
};

/// "0x0000162e".
[[nodiscard]] std::string key_text(key_t key);
/// "0600" from a mode (only the 9 permission bits).
[[nodiscard]] std::string perms_text(unsigned mode);

}  // namespace ipckit::detail
