// The one error type of the Genie libraries. A library function that cannot finish throws
// genie::Error; each tool's main maps its kind to an exit code (docs/exit-codes.md).
#pragma once

#include <stdexcept>
#include <string>

namespace genie {

enum class ErrorKind {
  kUsage,        // the caller asked for something that makes no sense (bad flag value)
  kBadInput,     // a file or stream does not hold what it should (corrupt, wrong format)
  kIo,           // the operating system refused (missing file, unwritable directory)
  kUnsupported,  // valid input that this version cannot handle (unknown major version)
  kRuntime,      // the work itself failed (an operator raised while executing)
  kInternal,     // a bug in Genie
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}

  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// The exit code a tool returns for an error of this kind; see docs/exit-codes.md.
int exit_code_for(ErrorKind kind);

// The first line of another library's message (LibTorch's carry tracebacks): what a
// genie::Error built from it quotes.
inline std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) {
  throw Error(kind, message);
}

}  // namespace genie
