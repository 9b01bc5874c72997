// Which operators genie-serve runs for a client: ATen's, and of those only the ones that
// touch nothing but the tensors they are given. A graph is data, but an operator that opens
// a file, prints, changes a process-wide setting or hands out memory as the allocator found
// it would let a client reach past its own tensors into the server and other clients' work.
#pragma once

#include <string>
#include <string_view>

namespace genie::remote {

// Why a client's graph may not run `op` on the server, or "" when it may.
std::string operator_refusal(std::string_view op);

}  // namespace genie::remote
