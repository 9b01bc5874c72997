// genie.patterns files (docs/patterns.md, schemas/patterns.schema.json): reading them into
// checked, planned templates, with errors that name the file, a JSON Pointer and what was
// expected; and finding the built-in ones.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "patterns/pattern.h"

namespace genie {

inline constexpr std::string_view kPatternsFormat = "genie.patterns";
inline constexpr int kPatternsVersionMajor = 1;
inline constexpr int kPatternsVersionMinor = 0;

// The patterns a file's text defines. `source` names the file in messages and is each
// pattern's source(). Throws Error(kBadInput) ("SOURCE: /patterns/0/nodes/bn/op: expected
// ..."), Error(kUnsupported) for a newer major version.
std::vector<std::unique_ptr<Pattern>> patterns_from_json(std::string_view text, const std::string& source);

// $GENIE_PATTERNS_DIR when set and not empty, else the patterns/ directory of the source
// tree this library was built from.
std::string patterns_builtin_dir();

// Every pattern of `paths` (files, and directories: each *.json in them, by name), then
// the registered plugins. No paths: the built-in directory. Throws Error(kIo) for a missing
// path, Error(kBadInput) for an invalid file or a name defined twice.
PatternSet patterns_load(const std::vector<std::string>& paths);

}  // namespace genie
