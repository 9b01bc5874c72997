// Small pieces for writing JSON text by hand, where a file must be laid out for people
// (one record a line) and written fast (graphs of a million nodes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "support/text_out.h"

namespace genie {

// Each writer below appends to a std::string or to a TextOut (text_out.h: the large files).

// Appends `s` as a JSON string literal (quotes included). Throws Error(kBadInput) if `s`
// is not valid UTF-8, since no JSON reader could take it back.
void json_append_string(std::string& out, std::string_view s);
void json_append_string(TextOut& out, std::string_view s);

void json_append_int(std::string& out, int64_t v);
void json_append_int(TextOut& out, int64_t v);

// Shortest text that reads back to the same double; always has a '.', 'e' or is one of
// the strings "inf", "-inf", "nan" (JSON has no literal for those).
void json_append_double(std::string& out, double v);
void json_append_double(TextOut& out, double v);

// How a reader's error names a value it did not expect: "null", "true", "the string
// \"abc\"" (cut at 40 characters), "an array of 3", "an object", or the number.
std::string json_describe(const nlohmann::json& j);
std::string json_describe(const nlohmann::ordered_json& j);

// A JSON parser's message without its prefix: "[json.exception.parse_error.101] parse error
// at line 3, column 5: syntax error ..." -> "line 3, column 5: syntax error ...".
std::string json_parse_error_text(std::string_view message);

}  // namespace genie
