# Finds LibTorch inside the Python environment's torch wheel (scripts/setup made it) and
# defines genie::torch, the one target LibTorch-using layers link.
#
# Facts this depends on (measured with torch 2.14.1+cu130, see README "LibTorch"):
# - LibTorch 2.14's headers use C++20 `requires` clauses, so only targets that include
#   them are built as C++20; the pure layers stay C++17.
# - The CUDA build's CMake config needs a CUDA toolkit (nvcc + headers) even to build
#   host code. Debian's image has one in /usr/local/cuda; nvrtc is not in it, but the
#   wheel's nvidia/cu13 folder carries it.
# - Its GPU architecture detection runs a CUDA program, which fails on a machine without
#   a GPU: TORCH_CUDA_ARCH_LIST skips it (9.0 = Hopper, the GPUs Genie is measured on).

execute_process(
  COMMAND "${GENIE_PYTHON}" -c "import torch, os; print(torch.utils.cmake_prefix_path); print(torch.version.cuda or ''); print(os.path.dirname(torch.__file__))"
  OUTPUT_VARIABLE _genie_torch_info OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _genie_rc ERROR_QUIET)
if(NOT _genie_rc EQUAL 0)
  message(FATAL_ERROR "GENIE_WITH_TORCH=ON but '${GENIE_PYTHON}' cannot import torch. Run scripts/setup "
                      "and pass -DGENIE_PYTHON=$(scripts/setup --print-venv)/bin/python, or -DGENIE_WITH_TORCH=OFF.")
endif()
string(REPLACE "\n" ";" _genie_torch_info "${_genie_torch_info}")
list(GET _genie_torch_info 0 GENIE_TORCH_CMAKE_PREFIX)
list(GET _genie_torch_info 1 GENIE_TORCH_CUDA_VERSION)
list(GET _genie_torch_info 2 GENIE_TORCH_DIR)
list(APPEND CMAKE_PREFIX_PATH "${GENIE_TORCH_CMAKE_PREFIX}")

if(GENIE_TORCH_CUDA_VERSION)
  if(NOT CUDA_TOOLKIT_ROOT_DIR)
    find_program(_genie_nvcc nvcc PATHS /usr/local/cuda/bin)
    if(_genie_nvcc)
      execute_process(COMMAND "${_genie_nvcc}" --version OUTPUT_QUIET RESULT_VARIABLE _genie_rc)
      # /usr/local/bin/nvcc may be a wrapper script: prefer the toolkit folder itself.
      if(EXISTS /usr/local/cuda/bin/nvcc)
        set(CUDA_TOOLKIT_ROOT_DIR /usr/local/cuda)
      else()
        get_filename_component(CUDA_TOOLKIT_ROOT_DIR "${_genie_nvcc}" DIRECTORY)
        get_filename_component(CUDA_TOOLKIT_ROOT_DIR "${CUDA_TOOLKIT_ROOT_DIR}" DIRECTORY)
      endif()
    endif()
  endif()
  if(NOT CUDA_TOOLKIT_ROOT_DIR)
    message(FATAL_ERROR "torch in ${GENIE_PYTHON} is a CUDA ${GENIE_TORCH_CUDA_VERSION} build, whose CMake "
                        "config needs a CUDA toolkit (nvcc), and none was found. Install one, pass "
                        "-DCUDA_TOOLKIT_ROOT_DIR=..., or use the CPU build: GENIE_TORCH_VERSION=2.13.0 scripts/setup.")
  endif()
  set(CUDAToolkit_ROOT "${CUDA_TOOLKIT_ROOT_DIR}" CACHE PATH "")
  set(CUDA_TOOLKIT_ROOT_DIR "${CUDA_TOOLKIT_ROOT_DIR}" CACHE PATH "")
  if(NOT TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "9.0" CACHE STRING "GPU architectures for CUDA code")
  endif()
  if(NOT CUDA_nvrtc_LIBRARY)
    file(GLOB _genie_nvrtc "${CUDA_TOOLKIT_ROOT_DIR}/lib64/libnvrtc.so" "${GENIE_TORCH_DIR}/../nvidia/cu*/lib/libnvrtc.so.*[0-9]")
    list(FILTER _genie_nvrtc EXCLUDE REGEX "alt|builtins")
    if(_genie_nvrtc)
      list(GET _genie_nvrtc 0 _genie_nvrtc)
      set(CUDA_nvrtc_LIBRARY "${_genie_nvrtc}" CACHE FILEPATH "")
    endif()
  endif()
endif()

find_package(Torch REQUIRED)

add_library(genie_torch INTERFACE)
target_link_libraries(genie_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(genie_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_compile_features(genie_torch INTERFACE cxx_std_20)
# LibTorch's own flags (the C++11 ABI define) without its global CMAKE_CXX_FLAGS edits.
target_compile_options(genie_torch INTERFACE ${TORCH_CXX_FLAGS})
add_library(genie::torch ALIAS genie_torch)

# The CPU half alone (libtorch_cpu, libc10): for what never touches a GPU, such as capture.
# A program linking only this does not load the CUDA build's libraries at start-up
# (libtorch_cuda, cuBLAS, cuDNN, NCCL...: 0.15-0.25 s of a genie-capture run).
add_library(genie_torch_cpu INTERFACE)
target_link_libraries(genie_torch_cpu INTERFACE torch_cpu_library)
target_include_directories(genie_torch_cpu SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_compile_features(genie_torch_cpu INTERFACE cxx_std_20)
target_compile_options(genie_torch_cpu INTERFACE ${TORCH_CXX_FLAGS})
add_library(genie::torch_cpu ALIAS genie_torch_cpu)
set(GENIE_TORCH_HAS_CUDA ${GENIE_TORCH_CUDA_VERSION})
message(STATUS "Genie: LibTorch from ${GENIE_TORCH_DIR} (CUDA: ${GENIE_TORCH_CUDA_VERSION})")
