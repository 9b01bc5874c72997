// Reading inputs and writing outputs the way every Genie tool does: "-" is stdin/stdout,
// and a file is written whole or not at all (a temporary beside it, renamed at the end).
#pragma once

#include <functional>
#include <iosfwd>
#include <string>

namespace genie {

// Whether `path` exists and is not a regular file or directory (/dev/null, a FIFO): outputs
// "beside" such a path have nowhere to go.
bool is_special_file(const std::string& path);

// The first line of `path`, without its line ending (a token file). Throws as read_file.
std::string read_first_line(const std::string& path);

// Whole content of `path` ("-" reads stdin). Throws Error(kIo) naming the path.
std::string read_file(const std::string& path);

// Calls `write` with a stream for `path` ("-" is stdout). For a file the bytes go to a
// temporary in the same directory, renamed over `path` only after `write` returned and the
// stream flushed without error; on any failure the temporary is removed and `path` left as
// it was. An existing path that is not a regular file (/dev/null, a FIFO) is written in
// place. Throws Error(kIo) naming the path.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

// How a path is shown in messages: "<stdin>"/"<stdout>" for "-".
std::string display_path(const std::string& path, bool for_output = false);

}  // namespace genie
