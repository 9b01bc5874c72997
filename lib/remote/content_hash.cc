#include "remote/content_hash.h"

#include <openssl/evp.h>

#include "support/error.h"

namespace genie::remote {

struct Sha256::Impl {
  EVP_MD_CTX* ctx;
};

Sha256::Sha256() : impl_(new Impl{EVP_MD_CTX_new()}) {
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(impl_->ctx);
    delete impl_;
    fail(ErrorKind::kInternal, "OpenSSL could not start a SHA-256 digest");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(impl_->ctx);
  delete impl_;
}

void Sha256::update(std::string_view bytes) {
  if (EVP_DigestUpdate(impl_->ctx, bytes.data(), bytes.size()) != 1)
    fail(ErrorKind::kInternal, "OpenSSL SHA-256 update failed");
}

Digest Sha256::finish() {
  Digest d{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, d.data(), &length) != 1 || length != d.size())
    fail(ErrorKind::kInternal, "OpenSSL SHA-256 final failed");
  return d;
}

Digest sha256(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

std::string digest_hex(const Digest& digest) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

std::string digest_short(const Digest& digest) { return digest_hex(digest).substr(0, 12); }

}  // namespace genie::remote
