// Which submodule of a TorchScript model is running, so that capture can give each operator
// its module scope: a RecordFunction callback on every TorchScript frame's entry and exit
// keeps the stack of the model's modules whose methods are running (docs/capture.md, "How
// the meaning is obtained").
#pragma once

#include <ATen/record_function.h>
#include <torch/csrc/jit/api/module.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace genie {

struct ModuleScope {
  std::string path;  // "layer1.0.conv1"; "" for the root module
  std::string type;  // "Conv2d", TorchScript's qualification removed
};

class ModuleScopes {
 public:
  // Indexes every module of `root` by its object. A module reachable by two paths keeps the
  // first named_modules() gives.
  explicit ModuleScopes(const torch::jit::Module& root);

  // While it lives, follows the TorchScript frames this thread runs. Trackings nest (only the
  // innermost follows); one must end on the thread it began on.
  class Tracking {
   public:
    explicit Tracking(const ModuleScopes& modules);
    ~Tracking();
    Tracking(const Tracking&) = delete;
    Tracking& operator=(const Tracking&) = delete;

    // The module whose method runs innermost; {"", ""} outside every frame of the model.
    const ModuleScope& current() const { return stack_.empty() ? kNone : *stack_.back().scope; }

   private:
    static std::unique_ptr<at::ObserverContext> enter(const at::RecordFunction& frame);
    static void leave(const at::RecordFunction& frame, at::ObserverContext*);
    static const ModuleScope kNone;

    const ModuleScopes& modules_;
    // On even where the thread had switched RecordFunction off (at::RecordFunctionGuard).
    at::RecordFunctionGuard enabled_{true};
    // One entry per frame entered: the frame's own module, or its caller's for a frame that
    // is no method of this model's modules (a TorchScript function). A frame is left only if
    // it was entered while this tracking followed.
    struct Entry {
      const at::RecordFunction* frame;
      const ModuleScope* scope;
    };
    std::vector<Entry> stack_;
    at::CallbackHandle callback_;
    Tracking* outer_;
  };

 private:
  std::unordered_map<const c10::ivalue::Object*, ModuleScope> by_object_;
};

}  // namespace genie
