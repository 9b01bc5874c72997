// Composite operators that write into their arguments (aten::dropout_, divide_, the out=
// forms of composite operators), made capturable under InferenceMode. Normally the Autograd
// keys decompose them before functionalization sees them; InferenceMode skips those keys,
// and functionalization's fallback then refuses any operator whose schema writes into an
// argument. So a model with nn.Dropout(inplace=True) (mobilenet_v3, efficientnet) could not
// be captured. See docs/lazy-tensor.md, "Functionalization".
#pragma once

#include <cstddef>

namespace genie {

// Registers, for every CompositeImplicitAutograd operator whose schema writes into an
// argument and that has no Functionalize kernel of its own, a Functionalize kernel that runs
// its decomposition: the operators it is made of, which functionalization handles. Returns
// how many operators it registered.
size_t register_inference_decompositions();

}  // namespace genie
