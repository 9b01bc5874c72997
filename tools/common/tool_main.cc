#include "common/tool_main.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <new>

#include "support/error.h"

namespace genie {

int tool_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  const std::string name = app.get_name();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << name << ": " << e.what() << " (see " << name << " --help)\n";
    return exit_code_for(ErrorKind::kUsage);
  }
  try {
    return body();
  } catch (const Error& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return exit_code_for(e.kind());
  } catch (const std::bad_alloc&) {
    std::cerr << name << ": out of memory\n";
    return exit_code_for(ErrorKind::kRuntime);
  } catch (const std::exception& e) {
    std::cerr << name << ": internal error: " << e.what() << "\n";
    return exit_code_for(ErrorKind::kInternal);
  }
}

#if defined(__SANITIZE_ADDRESS__)
#define GENIE_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GENIE_ADDRESS_SANITIZER 1
#endif
#endif

int exit_without_teardown(int code) {
#if defined(GENIE_ADDRESS_SANITIZER) || defined(GENIE_COVERAGE)
  return code;
#else
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
#endif
}

}  // namespace genie
