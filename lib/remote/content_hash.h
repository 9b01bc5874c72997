// Content addresses: the SHA-256 of the bytes a graph or weights file travels as. A server
// keeps what it was sent under this digest, so the same graph is uploaded once, whoever
// sends it (docs/protocol.md: graphs are sent in genie.graph's canonical form).
#pragma once

#include <string>
#include <string_view>

#include "remote/messages.h"

namespace genie::remote {

// Incremental SHA-256 (OpenSSL's libcrypto), for content that arrives or is read in pieces.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  Digest finish();

 private:
  struct Impl;
  Impl* impl_;
};

Digest sha256(std::string_view bytes);
// Lower-case hex, 64 characters: how digests appear in logs, file names and errors.
std::string digest_hex(const Digest& digest);
// The first 12 hex characters: enough to tell graphs apart in a log line.
std::string digest_short(const Digest& digest);

}  // namespace genie::remote
