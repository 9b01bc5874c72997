#include "capture/remote_backing.h"

#include <ATen/core/Tensor.h>

#include <cstdlib>

#include "exec/aten_types.h"
#include "graph/json_codec.h"
#include "io/safetensors.h"
#include "remote/content_hash.h"
#include "remote/tensor_payload.h"
#include "support/error.h"
#include "support/files.h"

namespace genie {

std::shared_ptr<RemoteBacking> RemoteBacking::from_environment() {
  const char* address = std::getenv("GENIE_REMOTE");
  if (!address || !*address) return nullptr;
  remote::ClientOptions options;
  options.name = "genie remote_accelerator";
  if (const char* token = std::getenv("GENIE_REMOTE_TOKEN_FILE"); token && *token) options.token = read_first_line(token);
  if (const char* ca = std::getenv("GENIE_REMOTE_TLS_CA"); ca && *ca) options.tls.ca_file = ca;
  // Mutual TLS: this client's certificate and key.
  if (const char* cert = std::getenv("GENIE_REMOTE_TLS_CERT"); cert && *cert) options.tls.cert_file = cert;
  if (const char* key = std::getenv("GENIE_REMOTE_TLS_KEY"); key && *key) options.tls.key_file = key;
  if (options.tls.cert_file.empty() != options.tls.key_file.empty() || (!options.tls.cert_file.empty() && !options.tls.enabled()))
    fail(ErrorKind::kUsage, "GENIE_REMOTE_TLS_CERT and GENIE_REMOTE_TLS_KEY go together, and with GENIE_REMOTE_TLS_CA");
  remote::check_address(address, options.tls.enabled());  // a malformed address fails here, at the start
  return std::make_shared<RemoteBacking>(address, std::move(options));
}

RemoteBacking::RemoteBacking(std::string address, remote::ClientOptions options)
    : address_(std::move(address)), options_(std::move(options)) {}

std::vector<at::Tensor> RemoteBacking::run(const Subgraph& sub, const std::function<at::Tensor(ValueId)>& value_of,
                                           const std::vector<std::pair<std::string, at::Tensor>>& stored) {
  if (!weights_built_ || stored.size() != weights_count_) {
    std::vector<at::Tensor> keep;
    std::vector<TensorToWrite> tensors;
    for (const auto& [name, t] : stored) {
      keep.push_back(t.cpu().contiguous());
      const at::Tensor& c = keep.back();
      tensors.push_back({name, to_dtype(c.scalar_type()), c.sizes().vec(), c.data_ptr(), c.nbytes()});
    }
    weights_ = std::make_shared<const std::string>(safetensors_bytes(tensors, {{"producer", "genie remote_accelerator"}}));
    weights_digest_ = remote::sha256(*weights_);
    weights_count_ = stored.size();
    weights_built_ = true;
  }
  if (!client_) client_.emplace(remote::RemoteClient::connect(address_, options_));
  auto graph = std::make_shared<const std::string>(graph_to_json(sub.graph));
  std::vector<remote::TensorPayload> inputs;
  for (ValueId v : sub.inputs) inputs.push_back(remote::tensor_payload("v" + std::to_string(v), value_of(v)));
  remote::Outputs outputs;
  try {
    remote::UploadReport upload = client_->ensure(graph, remote::sha256(*graph), weights_, weights_digest_);
    uploads_ += (upload.graph_sent ? 1 : 0) + (upload.weights_sent ? 1 : 0);
    outputs = client_->run(std::move(inputs));
  } catch (const Error& e) {
    // A lost connection (the server restarted) is not kept: the next materialisation
    // connects again, and uploads what the new server lacks.
    if (e.kind() == ErrorKind::kIo) client_.reset();
    throw;
  }
  std::vector<at::Tensor> results;
  for (remote::TensorPayload& t : outputs.outputs) results.push_back(remote::payload_tensor(std::move(t)));
  if (results.size() != sub.targets.size())
    fail(ErrorKind::kBadInput, "the server returned " + std::to_string(results.size()) + " values for " +
                                   std::to_string(sub.targets.size()));
  return results;
}

}  // namespace genie
