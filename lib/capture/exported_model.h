// The torch.export front end of model capture: a .pt2 program is run node by node through
// the dispatcher — on LazyTensors to capture it (each node's module scope taken from its
// nn_module_stack), on real tensors as the eager baseline. Capture is then the same as for
// TorchScript: the same capture kernel, functionalization and decompositions. See
// docs/capture.md ("torch.export programs").
#pragma once

#include <memory>
#include <string>

#include "capture/model_capture.h"

namespace genie {

// Opens a .pt2 archive (is_pt2_archive). Throws as exported_program_read does, and
// Error(kUsage) for a method other than "forward" (a program has one).
std::unique_ptr<ModelFrontEnd> exported_model_open(const std::string& path, const std::string& method = "forward");

}  // namespace genie
