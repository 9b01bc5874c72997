#include "support/files.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "support/error.h"
#include "support/json_text.h"
#include "support/text_out.h"

namespace genie {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "genie-test-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST(AtomicWrite, FailureLeavesNoFileAndKeepsTheOldOne) {
  TempDir dir;
  std::string target = (dir.path / "out.json").string();
  EXPECT_THROW(write_file_atomic(target, [](std::ostream& out) {
                 out << "partial";
                 fail(ErrorKind::kRuntime, "boom");
               }),
               Error);
  EXPECT_FALSE(fs::exists(target));
  write_file_atomic(target, [](std::ostream& out) { out << "old"; });
  EXPECT_THROW(write_file_atomic(target, [](std::ostream& out) { fail(ErrorKind::kRuntime, "boom"); }), Error);
  EXPECT_EQ(read_file(target), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}), 1);  // no temporaries
}

TEST(AtomicWrite, UnwritableDirectoryIsAnIoError) {
  try {
    write_file_atomic("/nonexistent-dir/x.json", [](std::ostream& out) { out << "x"; });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.json"), std::string::npos);
  }
}

TEST(ReadFile, MissingFileNamesIt) {
  try {
    read_file("/nonexistent/graph.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_STREQ(e.what(), "/nonexistent/graph.json: cannot open: No such file or directory");
  }
}

TEST(ReadFile, ReadsEveryByteOfFilesAndPipes) {
  TempDir dir;
  std::string bytes;
  for (size_t i = 0; i < 300000; ++i) bytes += static_cast<char>(i * 7 % 256);  // NULs included
  const std::string file = (dir.path / "blob").string();
  std::ofstream(file, std::ios::binary) << bytes;
  const std::string whole = read_file(file);
  EXPECT_EQ(whole, bytes);
  EXPECT_LT(whole.capacity(), bytes.size() + 64);  // not grown past the file to find its end
  // A FIFO reports size 0 and is read until its writer closes it, past the first chunk.
  const std::string fifo = (dir.path / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(fifo, std::ios::binary) << bytes; });
  std::string got;
  try {
    got = read_file(fifo);
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
    std::ifstream drain(fifo, std::ios::binary);  // lets the writer finish, so that it can be joined
    drain.ignore(std::numeric_limits<std::streamsize>::max());
  }
  writer.join();
  EXPECT_EQ(got, bytes);
  const std::string empty = (dir.path / "empty").string();
  std::ofstream(empty).close();
  EXPECT_EQ(read_file(empty), "");
}

TEST(ReadFile, DirectoryIsAnIoError) {
  TempDir dir;
  try {
    read_file(dir.path.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), dir.path.string() + ": is a directory");
  }
}

TEST(JsonText, Strings) {
  std::string out;
  json_append_string(out, "a\"b\\c\n\x01\xc3\xa9");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
  for (const char* bad : {"\xff", "\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    std::string o;
    EXPECT_THROW(json_append_string(o, bad), Error) << bad;
  }
}

TEST(JsonText, DoublesRoundTripAndLookLikeFloats) {
  std::string out;
  json_append_double(out, 1.0);
  out += ' ';
  json_append_double(out, 0.1);
  out += ' ';
  json_append_double(out, -1e300);
  out += ' ';
  json_append_double(out, -0.0);
  EXPECT_EQ(out, "1.0 0.1 -1e+300 -0.0");
}

// Graph files are written through TextOut: from empty, through many growths, it must hold
// exactly what the same appends to a std::string give.
TEST(JsonText, TextOutWritesWhatAStringDoes) {
  std::string expected;
  TextOut out;
  out.append("", 0);  // nothing to copy into an empty buffer
  for (int i = 0; i < 5000; ++i) {
    json_append_string(expected, "layer" + std::to_string(i) + "\"\xc3\xa9");
    expected += ", ";
    json_append_int(expected, -i * 7919);
    expected.push_back(' ');
    json_append_double(expected, i / 3.0);
    json_append_string(out, "layer" + std::to_string(i) + "\"\xc3\xa9");
    out += ", ";
    json_append_int(out, -i * 7919);
    out.push_back(' ');
    json_append_double(out, i / 3.0);
  }
  EXPECT_GT(expected.size(), 100000u);
  EXPECT_EQ(out.view(), expected);
  out.clear();
  EXPECT_EQ(out.size(), 0u);
  EXPECT_THROW(json_append_string(out, "\xff"), Error);
}

TEST(ExitCodes, AreTheDocumentedOnes) {
  EXPECT_EQ(exit_code_for(ErrorKind::kBadInput), 1);
  EXPECT_EQ(exit_code_for(ErrorKind::kUsage), 2);
  EXPECT_EQ(exit_code_for(ErrorKind::kIo), 3);
  EXPECT_EQ(exit_code_for(ErrorKind::kUnsupported), 4);
  EXPECT_EQ(exit_code_for(ErrorKind::kRuntime), 5);
  EXPECT_EQ(exit_code_for(ErrorKind::kInternal), 70);
}

}  // namespace
}  // namespace genie
