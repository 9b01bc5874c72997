// Materialisation on a genie-serve instead of in this process: with GENIE_REMOTE=HOST:PORT
// (or unix:PATH) set, a LazyTensor's value is computed by sending the subgraph that produces
// it, and the values it reads, to that server. The model's parameters and buffers travel
// once, as one weights file kept by content digest; each subgraph once; then only the values
// it reads. GENIE_REMOTE_TOKEN_FILE and GENIE_REMOTE_TLS_CA configure the connection as
// genie-run's --token-file and --tls-ca do.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "graph/subgraph.h"
#include "remote/client.h"

namespace genie {

class RemoteBacking {
 public:
  // nullptr when GENIE_REMOTE is unset. Throws Error(kUsage) for a malformed address.
  static std::shared_ptr<RemoteBacking> from_environment();
  RemoteBacking(std::string address, remote::ClientOptions options);

  // Runs `sub` on the server. `value_of(v)` gives the data of each of sub.inputs (original
  // ids); `stored` the model's parameters and buffers by name. Returns sub.targets' values
  // on the CPU. Connects on first use; throws Error as the server reports it.
  std::vector<at::Tensor> run(const Subgraph& sub, const std::function<at::Tensor(ValueId)>& value_of,
                              const std::vector<std::pair<std::string, at::Tensor>>& stored);

  // "remote:HOST:PORT" or "remote:unix:PATH", as the graph's materialisation notes name the device.
  std::string name() const { return "remote:" + address_; }
  // Uploads so far (graphs and weights sent because the server lacked them).
  size_t uploads() const { return uploads_; }

 private:
  std::string address_;
  remote::ClientOptions options_;
  std::optional<remote::RemoteClient> client_;
  // The weights file of the stored tensors, rebuilt when their number changes.
  std::shared_ptr<const std::string> weights_;
  remote::Digest weights_digest_{};
  size_t weights_count_ = 0;
  bool weights_built_ = false;
  size_t uploads_ = 0;
};

}  // namespace genie
