#include "support/json_text.h"

#include <charconv>
#include <cmath>

#include <nlohmann/json.hpp>

#include "support/error.h"

namespace genie {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not well formed.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  if (len == 2 && c < 0xC2) return 0;                          // overlong
  if (len == 3 && c == 0xE0 && byte(i + 1) < 0xA0) return 0;   // overlong
  if (len == 3 && c == 0xED && byte(i + 1) >= 0xA0) return 0;  // surrogate
  if (len == 4 && (c > 0xF4 || (c == 0xF0 && byte(i + 1) < 0x90) ||
                   (c == 0xF4 && byte(i + 1) >= 0x90)))
    return 0;
  return len;
}

template <typename Json>
std::string describe(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return j.template get<bool>() ? "true" : "false";
    case Json::value_t::string: {
      std::string s = j.template get<std::string>();
      if (s.size() > 40) s = s.substr(0, 37) + "...";
      return "the string " + Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    case Json::value_t::array: return "an array of " + std::to_string(j.size());
    case Json::value_t::object: return "an object";
    default: return j.dump();  // numbers
  }
}

template <typename Out>
void append_string(Out& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    // Runs of plain printable ASCII (nearly every name) are copied whole.
    size_t run = i;
    while (run < s.size() && static_cast<unsigned char>(s[run]) >= 0x20 && static_cast<unsigned char>(s[run]) < 0x80 &&
           s[run] != '"' && s[run] != '\\')
      ++run;
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = utf8_sequence_length(s, i);
      if (len == 0) fail(ErrorKind::kBadInput, "string is not valid UTF-8: cannot be written as JSON");
      out.append(s.data() + i, len);
      i += len;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

template <typename Out>
void append_int(Out& out, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(res.ptr - buf));
}

template <typename Out>
void append_double(Out& out, double v) {
  if (std::isnan(v)) {
    out += "\"nan\"";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "\"inf\"" : "\"-inf\"";
    return;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  std::string_view text(buf, static_cast<size_t>(res.ptr - buf));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

}  // namespace

std::string json_describe(const nlohmann::json& j) { return describe(j); }
std::string json_describe(const nlohmann::ordered_json& j) { return describe(j); }

void json_append_string(std::string& out, std::string_view s) { append_string(out, s); }
void json_append_string(TextOut& out, std::string_view s) { append_string(out, s); }
void json_append_int(std::string& out, int64_t v) { append_int(out, v); }
void json_append_int(TextOut& out, int64_t v) { append_int(out, v); }
void json_append_double(std::string& out, double v) { append_double(out, v); }
void json_append_double(TextOut& out, double v) { append_double(out, v); }

std::string json_parse_error_text(std::string_view message) {
  auto at = message.find(" at line ");
  if (at != std::string_view::npos) return std::string(message.substr(at + 4));
  auto colon = message.find("] ");
  return std::string(colon == std::string_view::npos ? message : message.substr(colon + 2));
}

}  // namespace genie
