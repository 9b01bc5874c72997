// What every genie-* tool's main shares: CLI11 parse errors become exit 2 with one line,
// genie::Error becomes its kind's exit code (docs/exit-codes.md) with one line, and nothing
// escapes as a crash.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace genie {

// Parses argv into `app`, then runs `body`; returns the process exit code.
int tool_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

}  // namespace genie
