// The remote_accelerator device backed by a genie-serve (GENIE_REMOTE): values materialise
// on the server, equal to local ones; the weights go once, each subgraph once.
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/relu.h>
#include <gtest/gtest.h>

#include <thread>

#include "capture/graph_builder.h"
#include "capture/remote_backing.h"
#include "remote/server.h"
#include "remote/transport.h"
#include "support/error.h"

namespace genie {
namespace {

// A genie-serve engine on loopback for the length of a test.
struct LoopbackServer {
  explicit LoopbackServer(bool allow_upload, uint16_t port = 0)
      : server(options(allow_upload)), listener(remote::tcp_listen({"127.0.0.1", port})) {
    thread = std::thread([this] { server.serve(*listener); });
  }
  ~LoopbackServer() {
    server.stop();
    thread.join();
  }
  static remote::ServerOptions options(bool allow_upload) {
    remote::ServerOptions o;
    o.allow_upload = allow_upload;
    return o;
  }
  remote::Server server;
  std::unique_ptr<remote::Listener> listener;
  std::thread thread;
};

TEST(RemoteBacking, MaterialisesOnTheServer) {
  LoopbackServer serve(true);
  auto backing = std::make_shared<RemoteBacking>(serve.listener->address(), remote::ClientOptions{});
  at::Tensor x_real = at::randn({2, 4}), w = at::randn({4, 4});
  at::Tensor expected = at::relu(at::matmul(x_real, w)) + 1;
  {
    CaptureScope scope;
    scope.builder().set_remote(backing);
    at::Tensor x = scope.builder().add_input(x_real, "x");
    at::Tensor p = scope.builder().add_parameter(w, "fc.weight");
    at::Tensor y = at::relu(at::matmul(x, p)) + 1;
    at::Tensor got = y.cpu();
    EXPECT_TRUE(at::allclose(got, expected)) << got << expected;
    EXPECT_EQ(backing->uploads(), 2u);  // the subgraph and the model's weights
    EXPECT_EQ(serve.server.stats().runs, 1u);

    // Python-style control flow on a value: a second subgraph that starts from y, known now.
    double total = (y * 2).sum().item<double>();
    EXPECT_NEAR(total, (expected * 2).sum().item<double>(), 1e-4);
    EXPECT_EQ(backing->uploads(), 3u);  // only the new subgraph: the weights are there
    EXPECT_EQ(serve.server.stats().runs, 2u);
    const auto& notes = scope.builder().graph().annotations["materialized"];
    ASSERT_FALSE(notes.empty());
    EXPECT_EQ(notes[0]["device"], "remote:" + serve.listener->address());
  }
  {
    // The same computation in a new graph: its subgraph is already on the server.
    CaptureScope scope;
    scope.builder().set_remote(backing);
    at::Tensor x = scope.builder().add_input(x_real, "x");
    at::Tensor p = scope.builder().add_parameter(w, "fc.weight");
    at::Tensor y = at::relu(at::matmul(x, p)) + 1;
    EXPECT_TRUE(at::allclose(y.cpu(), expected));
    EXPECT_EQ(backing->uploads(), 3u);
  }
}

TEST(RemoteBacking, AServerThatRefusesUploadsSaysSo) {
  LoopbackServer serve(false);
  CaptureScope scope;
  scope.builder().set_remote(std::make_shared<RemoteBacking>(serve.listener->address(), remote::ClientOptions{}));
  at::Tensor y = scope.builder().add_input(at::ones({3}), "x") * 3;
  try {
    y.cpu();
    ADD_FAILURE() << "materialised without uploading";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("this server does not accept uploads"), std::string::npos) << e.what();
  }
}

TEST(RemoteBacking, ConfiguredFromTheEnvironment) {
  ::unsetenv("GENIE_REMOTE");
  EXPECT_EQ(RemoteBacking::from_environment(), nullptr);
  ::setenv("GENIE_REMOTE", "127.0.0.1:7070", 1);
  auto backing = RemoteBacking::from_environment();
  ASSERT_NE(backing, nullptr);
  EXPECT_EQ(backing->name(), "remote:127.0.0.1:7070");
  EXPECT_NE(GraphBuilder().remote(), nullptr);  // a new builder picks it up
  ::setenv("GENIE_REMOTE_TLS_CERT", "client.pem", 1);  // mutual TLS needs the key, and a CA
  EXPECT_THROW(RemoteBacking::from_environment(), Error);
  ::setenv("GENIE_REMOTE_TLS_KEY", "client.key", 1);
  EXPECT_THROW(RemoteBacking::from_environment(), Error);
  ::setenv("GENIE_REMOTE_TLS_CA", "ca.pem", 1);
  EXPECT_NE(RemoteBacking::from_environment(), nullptr);
  for (const char* name : {"GENIE_REMOTE_TLS_CERT", "GENIE_REMOTE_TLS_KEY", "GENIE_REMOTE_TLS_CA"}) ::unsetenv(name);
  ::setenv("GENIE_REMOTE", "unix:/run/genie/serve.sock", 1);  // a server on this machine
  EXPECT_EQ(RemoteBacking::from_environment()->name(), "remote:unix:/run/genie/serve.sock");
  for (const char* bad : {"no-port", "unix:"}) {
    ::setenv("GENIE_REMOTE", bad, 1);
    EXPECT_THROW(RemoteBacking::from_environment(), Error) << bad;
  }
  ::unsetenv("GENIE_REMOTE");
}

// A server that restarts: the materialisation in flight fails (the connection is gone); the
// next connects again and sends the new server what it lacks.
TEST(RemoteBacking, ConnectsAgainAfterTheServerRestarts) {
  auto first = std::make_unique<LoopbackServer>(true);
  const std::string address = first->listener->address();
  const uint16_t port = remote::parse_host_port(address).port;
  auto backing = std::make_shared<RemoteBacking>(address, remote::ClientOptions{});
  CaptureScope scope;
  scope.builder().set_remote(backing);
  at::Tensor x = scope.builder().add_input(at::arange(3, at::kFloat), "x");
  EXPECT_TRUE(at::equal((x * 2).cpu(), at::arange(3, at::kFloat) * 2));
  EXPECT_EQ(backing->uploads(), 2u);
  first.reset();
  LoopbackServer second(true, port);
  bool failed = false;
  try {
    (x * 3).cpu();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("closed the connection"), std::string::npos) << e.what();
    failed = true;
  }
  EXPECT_TRUE(failed) << "a materialisation on the lost connection succeeded";
  EXPECT_TRUE(at::equal((x * 4).cpu(), at::arange(3, at::kFloat) * 4));
  EXPECT_EQ(second.server.stats().uploads, 2u);  // the subgraph and the weights, again
}

}  // namespace
}  // namespace genie
