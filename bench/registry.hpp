#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapter.hpp"

// The mechanisms `ipckit bench` knows, in the order it runs them, and how to pick some by
// name (--only):
//
//   for (const auto& m : ipckit::bench::registry()) fmt::print("{}: {}\n", m.name, m.summary);
//   auto chosen = ipckit::bench::select_mechanisms("pipe,fifo");   // throws on a bad name
//
// To add a mechanism, see adapter.hpp; its one line goes into the table in registry.cpp.

namespace ipckit::bench {

struct Registration {
  std::string_view name;     ///< as in --only; must equal Mechanism::name()
  std::string_view summary;  ///< one line for --help
  std::unique_ptr<Mechanism> (*make)();
};

/// Every known mechanism, in run order (c2c first: it is the floor the others compare to).
[[nodiscard]] std::span<const Registration> registry();

/// "c2c, pipe, fifo".
[[nodiscard]] std::string known_mechanism_names();

/// A new instance of the named mechanism. Throws std::invalid_argument for an unknown name,
/// listing the known ones.
[[nodiscard]] std::unique_ptr<Mechanism> make_mechanism(std::string_view name);

/// Parses a comma-separated list of names (spaces around names allowed, duplicates dropped,
/// order kept). Throws std::invalid_argument naming the unknown name and the known ones, or
/// saying a name is empty.
[[nodiscard]] std::vector<std::string> parse_mechanism_list(std::string_view list);

/// The instances for parse_mechanism_list(list).
[[nodiscard]] std::vector<std::unique_ptr<Mechanism>> select_mechanisms(std::string_view list);

/// One instance of every known mechanism, in run order.
[[nodiscard]] std::vector<std::unique_ptr<Mechanism>> all_mechanisms();

}  // namespace ipckit::bench
