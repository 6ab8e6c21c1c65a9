#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

// Names that come from the system (files in /dev/shm and the mqueue filesystem, channel
// names) are bytes: any user can make one that is not UTF-8, or that holds a newline or a
// terminal escape. These two helpers carry them without loss and without harm.

namespace ipckit::cli {

/// For a terminal: `raw` with every byte that is not printable UTF-8 shown as \xNN (control
/// characters, DEL, C1 controls, bytes that are not UTF-8) and a backslash as \\, so that
/// no name can move the cursor, change colours or forge a row. Printable UTF-8 is unchanged.
[[nodiscard]] std::string shown(std::string_view raw);

/// Puts `raw` into `row` under `key`. JSON strings are Unicode, so a name that is not valid
/// UTF-8 goes in with each invalid byte as U+FFFD (readable) and, beside it, `key`_hex: the
/// exact bytes in lowercase hex ("2f6f7264ff"). A name that is valid UTF-8 has no _hex field.
void put_name(nlohmann::ordered_json& row, const std::string& key, std::string_view raw);
/// A new JSON object holding only "name" (and "name_hex"), for a row that starts with its name.
[[nodiscard]] nlohmann::ordered_json named_row(std::string_view raw);

}  // namespace ipckit::cli
