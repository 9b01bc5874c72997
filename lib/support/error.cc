#include "support/error.h"

namespace genie {

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadInput: return 1;
    case ErrorKind::kUsage: return 2;
    case ErrorKind::kIo: return 3;
    case ErrorKind::kUnsupported: return 4;
    case ErrorKind::kRuntime: return 5;
    case ErrorKind::kInternal: return 70;
  }
  return 70;
}

}  // namespace genie
