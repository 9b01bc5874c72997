#include "support/files.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/error.h"

namespace genie {

std::string display_path(const std::string& path, bool for_output) {
  if (path == "-") return for_output ? "<stdout>" : "<stdin>";
  return path;
}

std::string read_first_line(const std::string& path) {
  std::string text = read_file(path);
  return text.substr(0, text.find_first_of("\r\n"));
}

bool is_special_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

std::string read_file(const std::string& path) {
  if (path == "-") {
    std::ostringstream buffer;
    buffer << std::cin.rdbuf();
    return buffer.str();
  }
  // read(2) into a string sized from fstat: a weights file can be gigabytes, and a stream
  // iterator reads it a character at a time (47 MB from the page cache: 254 ms against 38;
  // graph_bench's BM_ReadFile*).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::kIo, path + ": cannot open: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(ErrorKind::kIo, path + ": cannot read: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail(ErrorKind::kIo, path + ": is a directory");
  std::string content;
  // One byte over the size, so that the read that finds the end needs no room of its own (a
  // string grown at the last byte would hold twice the file). A FIFO, a device or a /proc
  // file says size 0: the string grows as it is read.
  content.resize(S_ISREG(st.st_mode) && st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : size_t{1} << 16);
  size_t filled = 0;
  for (;;) {
    if (filled == content.size()) content.resize(content.size() * 2);
    const ssize_t n = ::read(fd, content.data() + filled, content.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(ErrorKind::kIo, path + ": read failed: " + std::strerror(errno));
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  content.resize(filled);
  return content;
}

void write_file_atomic(const std::string& path,
                       const std::function<void(std::ostream&)>& write) {
  if (path == "-") {
    write(std::cout);
    std::cout.flush();
    if (!std::cout) fail(ErrorKind::kIo, "<stdout>: write failed");
    return;
  }
  // A device or a pipe (-o /dev/null, a FIFO) is written in place: renaming a temporary over
  // it would replace the device node itself.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) fail(ErrorKind::kIo, path + ": is a directory");
    std::ofstream out(path, std::ios::binary);
    if (!out) fail(ErrorKind::kIo, path + ": cannot open for writing: " + std::strerror(errno));
    write(out);
    out.flush();
    if (!out) fail(ErrorKind::kIo, path + ": write failed");
    return;
  }
  // mkstemp in the target's directory, so the final rename stays on one file system.
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) fail(ErrorKind::kIo, path + ": cannot create: " + std::strerror(errno));
  ::close(fd);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) fail(ErrorKind::kIo, path + ": cannot open for writing: " + std::strerror(errno));
      write(out);
      out.flush();
      if (!out) fail(ErrorKind::kIo, path + ": write failed (disk full?)");
    }
    // mkstemp creates 0600; give the file the permissions a plain create would have.
    mode_t mask = ::umask(0);
    ::umask(mask);
    ::chmod(tmp.c_str(), 0666 & ~mask);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      fail(ErrorKind::kIo, path + ": cannot write: " + std::strerror(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace genie
