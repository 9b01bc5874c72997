// What every genie-* tool's main shares: CLI11 parse errors become exit 2 with one line,
// genie::Error becomes its kind's exit code (docs/exit-codes.md) with one line, and nothing
// escapes as a crash.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace genie {

// Parses argv into `app`, then runs `body`; returns the process exit code.
int tool_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

// Ends the process with `code` once standard output and error are flushed, skipping static
// destructors: LibTorch's deregister every operator, and after a large capture that and the
// heap's consolidation took 60 ms of a tool whose files were already written. AddressSanitizer
// and coverage builds return normally instead, so that leak checks run and coverage data is
// written at exit.
int exit_without_teardown(int code);

}  // namespace genie
