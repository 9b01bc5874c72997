#include "remote/operator_policy.h"

#include <utility>

namespace genie::remote {

std::string operator_refusal(std::string_view op) {
  // Other namespaces a LibTorch process has loaded (distributed collectives, profiler hooks,
  // this project's own) are not a client's to call.
  if (op.rfind("aten::", 0) != 0) return "it is not an ATen operator; genie-serve runs only ATen operators";
  // ATen operators that reach outside their tensors, found by going through every schema the
  // dispatcher holds for string arguments and for results that are not tensors.
  static const std::pair<std::string_view, std::string_view> kRefused[] = {
      {"aten::from_file", "it reads, and with shared=True writes, files on the server"},
      {"aten::_print", "it writes to the server's output"},
      {"aten::_cufft_set_plan_cache_max_size", "it changes a setting every client of the server shares"},
      {"aten::_cufft_clear_plan_cache", "it changes a setting every client of the server shares"},
      // Memory as the allocator finds it, which may hold another client's tensors: the part
      // a resize grows by, and quantized empty tensors (aten::empty and its plain kin are
      // zero-filled on a server instead: captured graphs hold them).
      {"aten::resize", "the part it grows by holds memory as the allocator found it"},
      {"aten::resize_as", "the part it grows by holds memory as the allocator found it"},
      {"aten::_resize_output", "the part it grows by holds memory as the allocator found it"},
      {"aten::_empty_affine_quantized", "it holds memory as the allocator found it"},
      {"aten::_empty_per_channel_affine_quantized", "it holds memory as the allocator found it"},
      {"aten::empty_quantized", "it holds memory as the allocator found it"},
  };
  for (const auto& [name, why] : kRefused)
    if (op == name) return std::string(why);
  return "";
}

}  // namespace genie::remote
