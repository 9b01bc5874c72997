// genie-run: execute a captured graph on a device (cpu, cuda:N) from its weights, optionally
// check it against the original TorchScript model and time it against TorchScript.
#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "capture/model_capture.h"
#include "common/tool_main.h"
#include "exec/aten_types.h"
#include "exec/example_input.h"
#include "exec/executable.h"
#include "exec/output_check.h"
#include "graph/json_codec.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "remote/client.h"
#include "remote/content_hash.h"
#include "remote/tensor_payload.h"
#include "support/error.h"
#include "support/files.h"

namespace {

using genie::ErrorKind;
using genie::fail;
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

at::Tensor tensor_copy(const genie::TensorView& view) {
  return at::from_blob(const_cast<uint8_t*>(view.data), view.shape,
                       at::TensorOptions().dtype(genie::to_scalar_type(view.dtype)))
      .clone();
}

std::vector<at::Tensor> read_inputs(const genie::Graph& graph, const std::string& path) {
  genie::SafetensorsFile file = genie::SafetensorsFile::open(path);
  std::vector<at::Tensor> inputs;
  for (const genie::NamedValue& in : graph.inputs) {
    const genie::TensorView* view = file.find(in.name);
    if (!view) {
      std::string names;
      for (const auto& t : file.tensors()) names += (names.empty() ? "" : ", ") + t.name;
      fail(ErrorKind::kBadInput, genie::display_path(path) + ": no tensor named \"" + in.name +
                                     "\" (the graph's input); the file has: " + (names.empty() ? "nothing" : names));
    }
    inputs.push_back(tensor_copy(*view));
  }
  return inputs;
}

void write_outputs(const NamedTensors& outputs, const std::string& path) {
  std::vector<at::Tensor> keep;
  std::vector<genie::TensorToWrite> tensors;
  for (const auto& [name, t] : outputs) {
    keep.push_back(t.cpu().contiguous());
    const at::Tensor& c = keep.back();
    tensors.push_back({name, genie::to_dtype(c.scalar_type()), c.sizes().vec(), c.data_ptr(), c.nbytes()});
  }
  genie::safetensors_write(path, tensors, {{"producer", "genie-run"}});
}

struct Timing {
  std::vector<double> ms;
  double median() const {
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
  double min() const { return ms.empty() ? 0 : *std::min_element(ms.begin(), ms.end()); }
  double max() const { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
  nlohmann::json json() const { return {{"median_ms", median()}, {"min_ms", min()}, {"max_ms", max()}}; }
};

template <typename F>
double time_ms(const c10::Device& device, F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  genie::device_synchronize(device);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string megabytes(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

// A graph run by genie-serve: sent once (only what the server lacks), then inputs in and
// outputs out on every call.
struct RemoteRun {
  genie::remote::RemoteClient client;
  genie::remote::UploadReport upload;
  std::vector<std::string> input_names;
  uint64_t call_sent = 0, call_received = 0, server_micros = 0;  // of the last call

  NamedTensors run(const std::vector<at::Tensor>& inputs) {
    std::vector<genie::remote::TensorPayload> payloads;
    for (size_t i = 0; i < inputs.size(); ++i) payloads.push_back(genie::remote::tensor_payload(input_names[i], inputs[i]));
    const uint64_t sent0 = client.bytes_sent(), received0 = client.bytes_received();
    genie::remote::Outputs outputs = client.run(std::move(payloads));
    call_sent = client.bytes_sent() - sent0;
    call_received = client.bytes_received() - received0;
    server_micros = outputs.server_micros;
    NamedTensors result;
    for (auto& t : outputs.outputs) result.emplace_back(t.name, genie::remote::payload_tensor(std::move(t)));
    return result;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Run a Genie graph on a device from its weights; check it against the original model; time it.\n\n"
               "Examples:\n"
               "  genie-run resnet18.json                       random inputs (seed 0), CPU\n"
               "  genie-run --device cuda:0 resnet18.json --check resnet18.pt\n"
               "  genie-run bert.json --inputs batch.safetensors -o out.safetensors --format json\n"
               "  genie-run resnet18.json --check resnet18.pt --bench 30 --threads 2\n"
               "  genie-run --remote gpu-box:7070 --token-file ~/.genie-token resnet18.json --check resnet18.pt",
               "genie-run"};
  std::string graph_path, weights_path, inputs_path, outputs_path, check_path, device_name = "cpu", format = "text";
  std::string remote, token_file;
  genie::remote::TlsClientConfig tls;
  uint64_t seed = 0;
  int bench = 0, threads = 0;
  double rtol = 1e-4, atol = 1e-5;
  bool no_fold = false, keep_dead = false, no_channels_last = false, no_optimize = false;
  bool no_cuda_graph = false, no_in_place = false, no_views = false;
  app.add_option("graph", graph_path, "graph file (genie-capture's output); - for stdin")->required();
  auto* device_opt = app.add_option("--device", device_name, "cpu, cuda or cuda:N")->default_val("cpu");
  auto* remote_opt = app.add_option("--remote", remote, "run on a genie-serve at HOST:PORT (or unix:PATH, on this "
                                                        "machine) instead of here (the server's --device decides where)");
  device_opt->excludes(remote_opt);
  app.add_option("--token-file", token_file, "with --remote: file holding the server's token")->needs(remote_opt);
  auto* tls_ca = app.add_option("--tls-ca", tls.ca_file, "with --remote: TLS, trusting servers this CA signed (PEM)")
                     ->needs(remote_opt);
  auto* tls_cert = app.add_option("--tls-cert", tls.cert_file, "mutual TLS: this client's certificate (PEM)")->needs(tls_ca);
  auto* tls_key = app.add_option("--tls-key", tls.key_file, "mutual TLS: its private key (PEM)")->needs(tls_ca);
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  app.add_option("--weights", weights_path, "weights file (default: GRAPH.safetensors beside the graph)");
  auto* inputs_opt = app.add_option("--inputs", inputs_path, "inputs by graph input name (safetensors)");
  app.add_option("--seed", seed, "seed of random inputs when --inputs is not given (floats normal, others 0)")
      ->default_val(0)
      ->excludes(inputs_opt);
  app.add_option("-o,--outputs", outputs_path, "write the outputs by name (safetensors)");
  app.add_option("--check", check_path, "model (TorchScript, or a torch.export .pt2) to run on the same inputs and device and compare with");
  app.add_option("--rtol", rtol, "relative tolerance of --check (default 1e-4; float16 outputs 1e-3, bfloat16 1.6e-2)");
  app.add_option("--atol", atol,
                 "absolute tolerance of --check, times the output's largest magnitude when above 1\n"
                 "(default 1e-5; float16 outputs 1e-3, bfloat16 1.6e-2)");
  app.add_option("--bench", bench, "time N runs against TorchScript (needs --check)")->check(CLI::NonNegativeNumber);
  app.add_option("--threads", threads, "intra-op threads (default: LibTorch's choice)")->check(CLI::PositiveNumber);
  app.add_option("--format", format, "text or json (a summary for scripts, on stdout)")
      ->check(CLI::IsMember({"text", "json"}));
  // How this process compiles the graph: a server compiles it its own way, once for all its
  // clients, so these are refused with --remote rather than silently ignored.
  for (CLI::Option* local_only :
       {app.add_flag("--no-fold-batch-norm", no_fold, "keep batch-norms apart from their convolutions"),
        app.add_flag("--keep-dead-nodes", keep_dead, "run every node, also those no output depends on"),
        app.add_flag("--no-channels-last", no_channels_last, "CPU: keep convolutions in the recorded NCHW layout"),
        app.add_flag("--no-optimize", no_optimize, "all three above: run the graph as captured"),
        app.add_flag("--no-in-place", no_in_place, "every operator allocates its result (memory reuse off)"),
        app.add_flag("--no-views", no_views, "run functionalization's copying views (transpose_copy...) as copies"),
        app.add_flag("--no-cuda-graph", no_cuda_graph, "on CUDA, launch operator by operator")})
    local_only->excludes(remote_opt);
  app.set_version_flag("--version", "genie-run 0.1.0");

  return genie::tool_main(app, argc, argv, [&] {
    if (bench > 0 && check_path.empty()) fail(ErrorKind::kUsage, "--bench times against the model: give --check MODEL.pt");
    if (graph_path == "-" && weights_path.empty())
      fail(ErrorKind::kUsage, "with the graph on stdin, say where the weights are: --weights FILE");
    if (!remote.empty()) genie::remote::check_address(remote, !tls.ca_file.empty());  // a typo fails before the model is read
    if (weights_path.empty()) weights_path = genie::weights_path_beside(graph_path);
    if (threads > 0) at::set_num_threads(threads);

    genie::RunOptions options;
    options.device = genie::parse_run_device(device_name);
    options.fold_batch_norm = !no_fold && !no_optimize;
    options.drop_dead_nodes = !keep_dead && !no_optimize;
    options.channels_last = !no_channels_last && !no_optimize;
    options.in_place = !no_in_place;
    options.views = !no_views;
    options.cuda_graph = !no_cuda_graph;

    genie::Graph graph = genie::graph_read(graph_path);
    std::vector<at::Tensor> inputs;
    if (!inputs_path.empty()) {
      inputs = read_inputs(graph, inputs_path);
    } else {
      at::Generator generator = at::detail::createCPUGenerator(seed);
      for (const genie::NamedValue& in : graph.inputs)
        inputs.push_back(genie::example_input(graph.values[in.value].type, generator));
    }
    // The model is opened before anything runs: a wrong --check path fails fast.
    std::unique_ptr<genie::ModelFrontEnd> model;
    if (!check_path.empty()) {
      model = genie::model_open(check_path);
      model->to(options.device);
    }

    // Here, or on a genie-serve: the rest of the tool does not mind which.
    std::optional<genie::Executable> executable;
    std::optional<RemoteRun> remote_run;
    genie::ExecutableInfo info;
    bool tf32 = false;  // float32 outputs computed with TF32: --check's defaults follow
    std::string device_text = options.device.str();
    if (!remote.empty()) {
      genie::remote::ClientOptions client_options;
      client_options.name = "genie-run 0.1.0";
      client_options.tls = tls;
      if (!token_file.empty()) client_options.token = genie::read_first_line(token_file);
      std::vector<std::string> names;
      for (const genie::NamedValue& in : graph.inputs) names.push_back(in.name);
      info.graph_nodes = graph.nodes.size();
      auto canonical = std::make_shared<const std::string>(genie::graph_to_json(graph));
      auto weights = std::make_shared<const std::string>(genie::read_file(weights_path));
      // A name that resolves to a pool of servers: this graph's server, by its digest.
      const genie::remote::Digest graph_digest = genie::remote::sha256(*canonical);
      client_options.route_key = genie::remote::digest_hex(graph_digest);
      remote_run.emplace(RemoteRun{genie::remote::RemoteClient::connect(remote, client_options), {}, std::move(names)});
      remote_run->upload =
          remote_run->client.ensure(canonical, graph_digest, weights, genie::remote::sha256(*weights));
      device_text = remote + " " + remote_run->client.welcome().device;
      // The server's TF32 settings are taken to be this LibTorch's: genie-serve keeps LibTorch's defaults.
      std::optional<c10::Device> server_device;
      try {
        server_device = c10::Device(remote_run->client.welcome().device);
      } catch (const c10::Error&) {
      }
      tf32 = server_device && genie::float32_may_run_as_tf32(graph, *server_device);
    } else {
      tf32 = genie::float32_may_run_as_tf32(graph, options.device);
      executable.emplace(genie::Executable::load(std::move(graph), genie::SafetensorsFile::open(weights_path), options));
      info = executable->info();
    }
    auto run_graph = [&](const std::vector<at::Tensor>& in) {
      return remote_run ? remote_run->run(in) : executable->run(in);
    };
    NamedTensors outputs = run_graph(inputs);
    for (auto& [name, t] : outputs) t = t.clone();  // CUDA graph replay reuses its buffers
    if (!outputs_path.empty()) write_outputs(outputs, outputs_path);

    nlohmann::json report = {{"graph", genie::display_path(graph_path)},
                             {"device", device_text},
                             {"graph_nodes", info.graph_nodes},
                             {"outputs", nlohmann::json::array()}};
    if (!remote_run) {  // what this process compiled and ran; a server keeps its own
      report["threads"] = at::get_num_threads();
      report["operators_run"] = info.steps;
      report["in_place_operators"] = info.in_place_steps;
      report["copies_run_as_views"] = info.view_steps;
      report["folded_batch_norms"] = info.folded_batch_norms;
      report["channels_last_convolutions"] = info.channels_last_convolutions;
      report["cuda_graph"] = info.cuda_graph;
      report["weight_bytes"] = info.weight_bytes;
      report["peak_activation_bytes"] = info.peak_activation_bytes;
    }
    if (remote_run)
      report["remote"] = {{"server", remote_run->client.welcome().server},
                          {"device", remote_run->client.welcome().device},
                          {"graph_sent", remote_run->upload.graph_sent},
                          {"weights_sent", remote_run->upload.weights_sent},
                          {"upload_bytes", remote_run->upload.bytes_sent},
                          {"call_bytes_sent", remote_run->call_sent},
                          {"call_bytes_received", remote_run->call_received},
                          {"server_ms", remote_run->server_micros / 1e3}};
    for (const auto& [name, t] : outputs)
      report["outputs"].push_back({{"name", name}, {"type", genie::tensor_type_spec(genie::tensor_type_of(t))}});

    bool check_ok = true;
    if (model) {
      std::vector<at::Tensor> model_inputs;
      const c10::Device model_device = remote_run ? c10::Device(c10::kCPU) : options.device;
      for (const at::Tensor& t : inputs) model_inputs.push_back(t.to(model_device));
      NamedTensors expected = model->run_eager(model_inputs);
      const genie::Tolerance defaults = genie::default_tolerance(expected, tf32);
      if (!app.count("--rtol")) rtol = defaults.rtol;
      if (!app.count("--atol")) atol = defaults.atol;
      nlohmann::json check = {{"model", genie::display_path(check_path)}, {"rtol", rtol}, {"atol", atol},
                              {"outputs", nlohmann::json::array()}};
      for (const genie::OutputDifference& d : genie::outputs_compare(outputs, expected, rtol, atol)) {
        check_ok = check_ok && d.ok;
        nlohmann::json entry = {{"name", d.name},   {"max_abs_diff", d.max_abs}, {"max_rel_diff", d.max_rel},
                                {"scale", d.scale}, {"ok", d.ok}};
        if (!d.problem.empty()) entry["problem"] = d.problem;
        check["outputs"].push_back(entry);
      }
      if (outputs.size() != expected.size()) {
        check_ok = false;
        check["problem"] = "the graph has " + std::to_string(outputs.size()) + " outputs, the model " +
                           std::to_string(expected.size());
      }
      check["ok"] = check_ok;
      report["check"] = check;

      if (bench > 0) {
        std::unique_ptr<genie::ModelFrontEnd> optimized;
        std::string optimized_error;
        try {
          optimized = model->optimized_for_inference();
        } catch (const genie::Error& e) {
          optimized_error = e.what();
        }
        std::vector<at::Tensor> device_inputs = model_inputs;
        Timing genie_t, script_t, optimized_t;
        for (int r = 0; r < 3; ++r) {  // warm-up: the profiling executor specialises on early runs
          run_graph(device_inputs);
          model->run_eager(device_inputs);
          if (optimized) optimized->run_eager(device_inputs);
        }
        for (int r = 0; r < bench; ++r) {  // interleaved, so drift hits all alike
          genie_t.ms.push_back(time_ms(options.device, [&] { run_graph(device_inputs); }));
          script_t.ms.push_back(time_ms(options.device, [&] { model->run_eager(device_inputs); }));
          if (optimized) optimized_t.ms.push_back(time_ms(options.device, [&] { optimized->run_eager(device_inputs); }));
        }
        // "torchscript" names the baseline's timings whatever the model's format ("baseline").
        nlohmann::json b = {{"runs", bench}, {"genie", genie_t.json()}, {"torchscript", script_t.json()},
                            {"baseline", model->format()}, {"ratio", genie_t.median() / script_t.median()}};
        if (optimized) {
          b["torchscript_optimized"] = optimized_t.json();
          b["ratio_optimized"] = genie_t.median() / optimized_t.median();
        } else {
          b["torchscript_optimized_error"] = optimized_error;
        }
        report["bench"] = b;
      }
    }

    if (format == "json") {
      std::cout << report.dump(2) << "\n";
    } else {
      if (remote_run) {
        const genie::remote::UploadReport& up = remote_run->upload;
        const char* sent = up.graph_sent && up.weights_sent ? "graph weights"
                           : up.graph_sent                  ? "graph"
                           : up.weights_sent                ? "weights"
                                                            : "nothing, the server held both";
        std::printf("%s on %s (%s): %zu nodes; sent %s (%llu bytes); last call moved %llu bytes out, %llu in, "
                    "server %.3f ms\n",
                    report["graph"].get<std::string>().c_str(), remote.c_str(),
                    remote_run->client.welcome().device.c_str(), info.graph_nodes,
                    sent,
                    static_cast<unsigned long long>(remote_run->upload.bytes_sent),
                    static_cast<unsigned long long>(remote_run->call_sent),
                    static_cast<unsigned long long>(remote_run->call_received), remote_run->server_micros / 1e3);
      } else {
      std::printf("%s on %s (%d threads): %zu operators run of %zu nodes", report["graph"].get<std::string>().c_str(),
                  options.device.str().c_str(), at::get_num_threads(), info.steps, info.graph_nodes);
      if (info.in_place_steps) std::printf(", %zu in place", info.in_place_steps);
      if (info.view_steps) std::printf(", %zu copies as views", info.view_steps);
      if (info.folded_batch_norms) std::printf(", %zu batch-norms folded", info.folded_batch_norms);
      if (info.channels_last_convolutions)
        std::printf(", %zu convolutions channels-last", info.channels_last_convolutions);
      if (info.cuda_graph) std::printf(", replayed as a CUDA graph");
      std::printf("\n  weights %s, peak activations %s\n", megabytes(info.weight_bytes).c_str(),
                  megabytes(info.peak_activation_bytes).c_str());
      if (options.device.is_cuda() && options.cuda_graph && !info.cuda_graph)
        std::printf("  no CUDA graph: %s\n", info.cuda_graph_off_reason.c_str());
      }
      for (const auto& out : report["outputs"])
        std::printf("  output %s: %s\n", out["name"].get<std::string>().c_str(), out["type"].get<std::string>().c_str());
      if (report.contains("check")) {
        const auto& check = report["check"];
        std::printf("check against %s (rtol %g, atol %g): %s\n", check["model"].get<std::string>().c_str(), rtol, atol,
                    check_ok ? "equal" : "DIFFERENT");
        if (check.contains("problem")) std::printf("  %s\n", check["problem"].get<std::string>().c_str());
        for (const auto& d : check["outputs"]) {
          std::printf("  %-12s max abs diff %.3g, max rel diff %.3g, scale %.3g%s%s\n", d["name"].get<std::string>().c_str(),
                      d["max_abs_diff"].get<double>(), d["max_rel_diff"].get<double>(), d["scale"].get<double>(),
                      d["ok"].get<bool>() ? "" : "  OVER",
                      d.contains("problem") ? ("  " + d["problem"].get<std::string>()).c_str() : "");
        }
      }
      if (report.contains("bench")) {
        const auto& b = report["bench"];
        auto row = [](const char* what, const nlohmann::json& t) {
          std::printf("  %-34s median %8.3f ms  min %8.3f  max %8.3f\n", what, t["median_ms"].get<double>(),
                      t["min_ms"].get<double>(), t["max_ms"].get<double>());
        };
        std::printf("bench, %d runs each, interleaved:\n", bench);
        row("genie plan", b["genie"]);
        const bool exported = b["baseline"] == "torch.export";
        row(exported ? "torch.export program, eager" : "TorchScript interpreter", b["torchscript"]);
        if (b.contains("torchscript_optimized")) row("TorchScript frozen + optimized", b["torchscript_optimized"]);
        std::printf("  ratio genie / %s: %.3f", exported ? "eager" : "TorchScript", b["ratio"].get<double>());
        if (b.contains("ratio_optimized"))
          std::printf(";  genie / frozen + optimized: %.3f", b["ratio_optimized"].get<double>());
        else
          std::printf(";  frozen + optimized unavailable: %s", b["torchscript_optimized_error"].get<std::string>().c_str());
        std::printf("\n");
      }
    }
    if (!check_ok) {
      std::cerr << "genie-run: outputs differ from " << genie::display_path(check_path) << " beyond rtol " << rtol
                << ", atol " << atol << "\n";
      return 6;
    }
    return 0;
  });
}
