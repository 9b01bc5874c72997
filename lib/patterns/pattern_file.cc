#include "patterns/pattern_file.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "patterns/plugin.h"
#include "support/error.h"
#include "support/json_text.h"
#include "support/files.h"

#ifndef GENIE_BUILTIN_PATTERNS_DIR
#define GENIE_BUILTIN_PATTERNS_DIR "patterns"
#endif

namespace genie {
namespace {

using Json = nlohmann::ordered_json;

constexpr uint32_t kDefaultMaxHops = 16;
constexpr uint32_t kMaxRepeat = 4096;
constexpr size_t kMaxRoles = 64;

// JSON Pointer escaping (RFC 6901).
std::string pointer_key(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out.push_back(c);
  }
  return out;
}
std::string at_key(const std::string& at, const std::string& key) {
  return at + "/" + pointer_key(key);
}
std::string at_index(const std::string& at, size_t i) {
  return at + "/" + std::to_string(i);
}

bool is_identifier(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool is_word(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// "aten::relu" or "aten::add.Tensor".
bool is_op_name(const std::string& s) {
  auto sep = s.find("::");
  if (sep == std::string::npos || !is_word(std::string_view(s).substr(0, sep))) return false;
  std::string_view rest = std::string_view(s).substr(sep + 2);
  auto dot = rest.find('.');
  if (dot == std::string_view::npos) return is_word(rest);
  return is_word(rest.substr(0, dot)) && is_word(rest.substr(dot + 1));
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

class Reader {
 public:
  Reader(std::string source, bool strict) : source_(std::move(source)), strict_(strict) {}

  [[noreturn]] void error(const std::string& at, const std::string& what) const {
    fail(ErrorKind::kBadInput, source_ + ": " + (at.empty() ? "/" : at) + ": " + what);
  }
  [[noreturn]] void expected(const std::string& at, const std::string& what, const Json& found) const {
    error(at, "expected " + what + ", found " + json_describe(found));
  }

  const Json& object(const Json& j, const std::string& at) const {
    if (!j.is_object()) expected(at, "an object", j);
    return j;
  }
  const Json& array(const Json& j, const std::string& at) const {
    if (!j.is_array()) expected(at, "an array", j);
    return j;
  }
  const std::string& string(const Json& j, const std::string& at) const {
    if (!j.is_string()) expected(at, "a string", j);
    return j.get_ref<const std::string&>();
  }
  bool boolean(const Json& j, const std::string& at) const {
    if (!j.is_boolean()) expected(at, "true or false", j);
    return j.get<bool>();
  }
  int64_t integer(const Json& j, const std::string& at, int64_t min, int64_t max) const {
    if (!j.is_number_integer() || (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t(max)) ||
        j.get<int64_t>() < min || j.get<int64_t>() > max)
      expected(at, "an integer from " + std::to_string(min) + " to " + std::to_string(max), j);
    return j.get<int64_t>();
  }
  const Json& required(const Json& obj, const std::string& at, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end()) error(at, std::string("missing required key \"") + key + "\"");
    return *it;
  }
  const Json* optional(const Json& obj, const char* key) const {
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }
  // Unknown keys are typos when the file's minor version is one this build knows.
  void known_keys(const Json& obj, const std::string& at, std::initializer_list<const char*> keys) const {
    if (!strict_) return;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      bool known = false;
      std::string list;
      for (const char* k : keys) {
        known = known || it.key() == k;
        list += (list.empty() ? "" : ", ") + std::string(k);
      }
      if (!known) error(at, "unknown key \"" + it.key() + "\" (expected one of " + list + ")");
    }
  }

  // -- operator sets ---------------------------------------------------------------------

  OpAlternative op_alternative(const Json& j, const std::string& at) const {
    OpAlternative alt;
    if (j.is_object()) {
      known_keys(j, at, {"op", "args"});
      alt.name = string(required(j, at, "op"), at_key(at, "op"));
      if (!is_op_name(alt.name))
        expected(at_key(at, "op"), "an operator name such as \"aten::relu\" or \"aten::add.Tensor\"", j["op"]);
      if (const Json* args = optional(j, "args")) alt.args = arg_predicates(*args, at_key(at, "args"));
      return alt;
    }
    if (!j.is_string() || !is_op_name(j.get<std::string>()))
      expected(at, "an operator name such as \"aten::relu\" or \"aten::add.Tensor\", or {\"op\": ..., \"args\": ...}",
               j);
    alt.name = j.get<std::string>();
    return alt;
  }

  void op_sets(const Json& j, const std::string& at) {
    object(j, at);
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string item_at = at_key(at, it.key());
      if (!is_identifier(it.key())) error(item_at, "an operator set's name is a word ([A-Za-z_][A-Za-z0-9_]*)");
      array(*it, item_at);
      if (it->empty()) error(item_at, "an operator set needs at least one operator");
      std::vector<OpAlternative> alts;
      for (size_t i = 0; i < it->size(); ++i) alts.push_back(op_alternative((*it)[i], at_index(item_at, i)));
      op_sets_[it.key()] = std::move(alts);
    }
  }

  // "*", "@set", "aten::relu", or an array of names, @sets and {"op", "args"} objects.
  OpSet op_set(const Json& j, const std::string& at) const {
    OpSet set;
    auto add_string = [&](const std::string& s, const std::string& s_at, const Json& found) {
      if (!s.empty() && s[0] == '@') {
        auto it = op_sets_.find(s.substr(1));
        if (it == op_sets_.end()) {
          std::vector<std::string> names;
          for (const auto& [name, alts] : op_sets_) names.push_back(name);
          error(s_at, "unknown operator set \"" + s + "\" (" +
                          (names.empty() ? std::string("this file defines none in \"op_sets\"")
                                         : "this file defines: " + join(names)) +
                          ")");
        }
        set.alternatives.insert(set.alternatives.end(), it->second.begin(), it->second.end());
        return;
      }
      set.alternatives.push_back(op_alternative(found, s_at));
    };
    if (j.is_string()) {
      if (j.get<std::string>() == "*") {
        set.any = true;
        return set;
      }
      add_string(j.get<std::string>(), at, j);
      return set;
    }
    if (!j.is_array() || j.empty())
      expected(at, "an operator (\"aten::relu\"), an operator set (\"@name\"), \"*\" or a non-empty array of them", j);
    for (size_t i = 0; i < j.size(); ++i) {
      if (j[i].is_string())
        add_string(j[i].get<std::string>(), at_index(at, i), j[i]);
      else
        set.alternatives.push_back(op_alternative(j[i], at_index(at, i)));
    }
    return set;
  }

  // -- predicates ------------------------------------------------------------------------

  ArgKey arg_key(const std::string& key, const std::string& at, bool allow_any) const {
    ArgKey k;
    if (key == "*" && allow_any) {
      k.any = true;
    } else if (!key.empty() && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      if (key.size() > 4) error(at, "argument index " + key + " is out of range");
      k.index = std::stoi(key);
    } else if (is_identifier(key)) {
      k.name = key;
    } else {
      error(at, std::string("expected an argument index (\"0\"), an argument name (\"self\")") +
                    (allow_any ? " or \"*\"" : "") + ", found \"" + key + "\"");
    }
    return k;
  }

  void literal(const Json& j, const std::string& at) const {
    bool ok = j.is_null() || j.is_boolean() || j.is_number() || j.is_string();
    if (j.is_array()) {
      ok = true;
      for (const Json& item : j) ok = ok && (item.is_number() || item.is_boolean());
    }
    if (!ok) expected(at, "a literal (null, true/false, a number, a string, or an array of numbers or booleans)", j);
  }

  std::vector<ArgPredicate> arg_predicates(const Json& j, const std::string& at) const {
    object(j, at);
    std::vector<ArgPredicate> out;
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string item_at = at_key(at, it.key());
      ArgPredicate p;
      p.key = arg_key(it.key(), item_at, false);
      if (!it->is_object()) {
        literal(*it, item_at);
        p.tests.push_back({CompareOp::kEq, nlohmann::json::parse(it->dump())});
      } else {
        if (it->empty()) error(item_at, "expected at least one of eq, ne, lt, le, gt, ge, in");
        static const std::pair<const char*, CompareOp> kOps[] = {
            {"eq", CompareOp::kEq}, {"ne", CompareOp::kNe}, {"lt", CompareOp::kLt}, {"le", CompareOp::kLe},
            {"gt", CompareOp::kGt}, {"ge", CompareOp::kGe}, {"in", CompareOp::kIn}};
        for (auto t = it->begin(); t != it->end(); ++t) {
          std::string t_at = at_key(item_at, t.key());
          const CompareOp* op = nullptr;
          for (const auto& [name, o] : kOps)
            if (t.key() == name) op = &o;
          if (!op)
            error(item_at, "unknown comparison \"" + t.key() + "\" (expected one of eq, ne, lt, le, gt, ge, in)");
          if (*op == CompareOp::kIn) {
            array(*t, t_at);
            for (size_t i = 0; i < t->size(); ++i) literal((*t)[i], at_index(t_at, i));
          } else if (*op == CompareOp::kEq || *op == CompareOp::kNe) {
            literal(*t, t_at);
          } else if (!t->is_number()) {
            expected(t_at, "a number", *t);
          }
          p.tests.push_back({*op, nlohmann::json::parse(t->dump())});
        }
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  std::vector<std::string> strings(const Json& j, const std::string& at, const char* what) const {
    std::vector<std::string> out;
    if (j.is_string()) return {j.get<std::string>()};
    if (!j.is_array() || j.empty()) expected(at, std::string(what) + " or a non-empty array of them", j);
    for (size_t i = 0; i < j.size(); ++i) out.push_back(string(j[i], at_index(at, i)));
    return out;
  }

  void type_predicate(const Json& spec, const std::string& at, TypePredicate& p, bool value_spec) const {
    if (const Json* d = optional(spec, "dtype")) {
      std::string d_at = at_key(at, "dtype");
      for (const std::string& name : strings(*d, d_at, "a dtype name such as \"float32\"")) {
        auto dt = dtype_from_name(name);
        if (!dt) error(d_at, "\"" + name + "\" is not a dtype name (float32, int64, bfloat16, ...)");
        p.dtypes.push_back(*dt);
      }
    }
    if (const Json* r = optional(spec, "rank")) {
      std::string r_at = at_key(at, "rank");
      if (r->is_object()) {
        known_keys(*r, r_at, {"min", "max"});
        if (const Json* lo = optional(*r, "min")) p.rank_min = integer(*lo, at_key(r_at, "min"), 0, 64);
        if (const Json* hi = optional(*r, "max")) p.rank_max = integer(*hi, at_key(r_at, "max"), 0, 64);
        if (p.rank_min >= 0 && p.rank_max >= 0 && p.rank_min > p.rank_max)
          error(r_at, "\"min\" is greater than \"max\"");
      } else {
        p.rank_min = p.rank_max = integer(*r, r_at, 0, 64);
      }
    }
    if (const Json* s = optional(spec, "shape")) {
      std::string s_at = at_key(at, "shape");
      array(*s, s_at);
      p.has_shape = true;
      for (size_t i = 0; i < s->size(); ++i)
        p.shape.push_back((*s)[i].is_null() ? -1 : integer((*s)[i], at_index(s_at, i), 0, INT64_MAX));
    }
    if (!value_spec) return;
    if (const Json* r = optional(spec, "residency")) {
      std::string r_at = at_key(at, "residency");
      for (const std::string& name : strings(*r, r_at, "a residency")) {
        Residency res;
        if (!residency_from_name(name, &res))
          error(r_at, "\"" + name + "\" is not a residency (input, parameter, buffer, constant, activation)");
        p.residencies.push_back(res);
      }
    }
  }

  // -- templates -------------------------------------------------------------------------

  // A role's input source: "role", "role:1", "$x", or {"from", "through", "follow", "min", "max", "as"}.
  Ref ref(const Json& j, const std::string& at, Template& t, const std::map<std::string, uint32_t>& roles) const {
    Ref r;
    const Json* from = &j;
    std::string from_at = at;
    if (j.is_object()) {
      known_keys(j, at, {"from", "through", "follow", "min", "max", "as"});
      from = &required(j, at, "from");
      from_at = at_key(at, "from");
      if (const Json* through = optional(j, "through")) {
        r.through = true;
        r.through_ops = op_set(*through, at_key(at, "through"));
        r.max_hops = kDefaultMaxHops;
        if (const Json* f = optional(j, "follow")) {
          const std::string& how = string(*f, at_key(at, "follow"));
          if (how != "first" && how != "any") expected(at_key(at, "follow"), "\"first\" or \"any\"", *f);
          r.follow_any = how == "any";
        }
        if (const Json* lo = optional(j, "min"))
          r.min_hops = uint32_t(integer(*lo, at_key(at, "min"), 0, r.follow_any ? 1 : 256));
        if (const Json* hi = optional(j, "max")) r.max_hops = uint32_t(integer(*hi, at_key(at, "max"), 1, 1024));
        if (r.min_hops > r.max_hops) error(at, "\"min\" is greater than \"max\"");
        if (const Json* as = optional(j, "as")) {
          const std::string& name = string(*as, at_key(at, "as"));
          if (!is_identifier(name)) expected(at_key(at, "as"), "a role name ([A-Za-z_][A-Za-z0-9_]*)", *as);
          if (roles.count(name) || std::find(t.as_names.begin(), t.as_names.end(), name) != t.as_names.end())
            error(at_key(at, "as"), "\"" + name + "\" names a role already");
          r.as_group = static_cast<int32_t>(t.as_names.size());
          t.as_names.push_back(name);
        }
      } else {
        for (const char* key : {"follow", "min", "max", "as"})
          if (optional(j, key)) error(at, std::string("\"") + key + "\" applies only with \"through\"");
      }
    }
    if (!from->is_string()) expected(from_at, "a role (\"conv\", \"bn:1\") or a value variable (\"$x\")", *from);
    const std::string& text = from->get_ref<const std::string&>();
    r.text = text;
    if (!text.empty() && text[0] == '$') {
      std::string name = text.substr(1);
      if (!is_identifier(name)) expected(from_at, "a value variable such as \"$x\"", *from);
      r.kind = Ref::Kind::kVar;
      auto it = std::find_if(t.vars.begin(), t.vars.end(), [&](const VarSpec& v) { return v.name == name; });
      if (it == t.vars.end()) {
        t.vars.push_back(VarSpec{name, {}, false});
        it = t.vars.end() - 1;
      }
      r.index = static_cast<uint32_t>(it - t.vars.begin());
      return r;
    }
    std::string name = text;
    if (auto colon = text.find(':'); colon != std::string::npos) {
      name = text.substr(0, colon);
      std::string slot = text.substr(colon + 1);
      if (slot.empty() || slot.size() > 3 ||
          !std::all_of(slot.begin(), slot.end(), [](char c) { return c >= '0' && c <= '9'; }))
        expected(from_at, "a role with an output index such as \"bn:1\"", *from);
      r.output = uint32_t(std::stoi(slot));
    }
    auto it = roles.find(name);
    if (it == roles.end()) {
      std::vector<std::string> names;
      for (const RoleSpec& role : t.roles) names.push_back(role.name);
      error(from_at, "\"" + name + "\" is not a role of this pattern (roles: " + join(names) +
                         "; a value variable is written \"$" + name + "\")");
    }
    r.index = it->second;
    return r;
  }

  void role(const Json& j, const std::string& at, RoleSpec& role, Template& t,
            const std::map<std::string, uint32_t>& roles) const {
    object(j, at);
    known_keys(j, at,
               {"op", "inputs", "args", "dtype", "rank", "shape", "module_type", "commutative", "single_use",
                "same_shape", "optional", "repeat"});
    role.ops = op_set(required(j, at, "op"), at_key(at, "op"));
    if (const Json* args = optional(j, "args")) role.args = arg_predicates(*args, at_key(at, "args"));
    type_predicate(j, at, role.type, false);
    if (const Json* m = optional(j, "module_type"))
      role.module_types = strings(*m, at_key(at, "module_type"), "a module type");
    if (const Json* c = optional(j, "commutative")) role.commutative = boolean(*c, at_key(at, "commutative"));
    if (const Json* s = optional(j, "single_use")) role.single_use = boolean(*s, at_key(at, "single_use"));
    if (const Json* s = optional(j, "same_shape")) role.same_shape = boolean(*s, at_key(at, "same_shape"));
    const Json* opt = optional(j, "optional");
    const Json* rep = optional(j, "repeat");
    if (opt && rep) error(at, "\"optional\" and \"repeat\" together: write \"repeat\": {\"min\": 0, ...}");
    if (opt && boolean(*opt, at_key(at, "optional"))) role.min = 0;
    if (rep) {
      std::string r_at = at_key(at, "repeat");
      object(*rep, r_at);
      known_keys(*rep, r_at, {"min", "max", "link", "through", "max_through"});
      role.min = uint32_t(integer(optional(*rep, "min") ? (*rep)["min"] : Json(1), at_key(r_at, "min"), 0, kMaxRepeat));
      role.max = uint32_t(integer(required(*rep, r_at, "max"), at_key(r_at, "max"), 1, kMaxRepeat));
      if (role.min > role.max) error(r_at, "\"min\" is greater than \"max\"");
      if (const Json* link = optional(*rep, "link")) {
        std::string l_at = at_key(r_at, "link");
        if (link->is_number_integer())
          role.link.index = int32_t(integer(*link, l_at, 0, 9999));
        else
          role.link = arg_key(string(*link, l_at), l_at, true);
      }
      if (const Json* th = optional(*rep, "through")) {
        role.link_through = true;
        role.link_through_ops = op_set(*th, at_key(r_at, "through"));
        role.link_max_through = kDefaultMaxHops;
      }
      if (const Json* mt = optional(*rep, "max_through")) {
        if (!role.link_through) error(at_key(r_at, "max_through"), "\"max_through\" applies only with \"through\"");
        role.link_max_through = uint32_t(integer(*mt, at_key(r_at, "max_through"), 1, 1024));
      }
      if (role.commutative && role.max > 1) error(at, "a repeated role (\"max\" > 1) cannot be commutative");
    }
    if (const Json* inputs = optional(j, "inputs")) {
      std::string i_at = at_key(at, "inputs");
      object(*inputs, i_at);
      for (auto it = inputs->begin(); it != inputs->end(); ++it) {
        InputSpec in;
        in.pointer = at_key(i_at, it.key());
        in.key = arg_key(it.key(), in.pointer, true);
        in.ref = ref(*it, in.pointer, t, roles);
        role.inputs.push_back(std::move(in));
      }
    }
  }

  Template template_(const Json& spec, const std::string& at, const std::string& variant, double confidence) const {
    Template t;
    t.variant = variant;
    t.confidence = confidence;
    if (const Json* c = optional(spec, "confidence")) t.confidence = confidence_value(*c, at_key(at, "confidence"));
    std::string nodes_at = at_key(at, "nodes");
    const Json& nodes = object(required(spec, at, "nodes"), nodes_at);
    if (nodes.empty()) error(nodes_at, "a pattern needs at least one node");
    if (nodes.size() > kMaxRoles) error(nodes_at, "a pattern has at most " + std::to_string(kMaxRoles) + " nodes");
    std::map<std::string, uint32_t> roles;
    for (auto it = nodes.begin(); it != nodes.end(); ++it) {
      if (!is_identifier(it.key()))
        error(at_key(nodes_at, it.key()), "a role's name is a word ([A-Za-z_][A-Za-z0-9_]*)");
      roles[it.key()] = static_cast<uint32_t>(t.roles.size());
      RoleSpec r;
      r.name = it.key();
      r.pointer = at_key(nodes_at, it.key());
      t.roles.push_back(std::move(r));
    }
    if (const Json* values = optional(spec, "values")) {
      std::string v_at = at_key(at, "values");
      object(*values, v_at);
      for (auto it = values->begin(); it != values->end(); ++it) {
        std::string item_at = at_key(v_at, it.key());
        if (!is_identifier(it.key())) error(item_at, "a value variable's name is a word (declared without \"$\")");
        object(*it, item_at);
        known_keys(*it, item_at, {"dtype", "rank", "shape", "residency"});
        VarSpec v{it.key(), {}, true};
        type_predicate(*it, item_at, v.type, true);
        t.vars.push_back(std::move(v));
      }
    }
    size_t r = 0;
    for (auto it = nodes.begin(); it != nodes.end(); ++it, ++r) role(*it, t.roles[r].pointer, t.roles[r], t, roles);
    check(t, at, nodes_at);
    t.anchor = anchor(spec, at, t, roles);
    plan(t);
    return t;
  }

  double confidence_value(const Json& j, const std::string& at) const {
    if (!j.is_number() || !(j.get<double>() > 0.0) || j.get<double>() > 1.0) expected(at, "a number in (0, 1]", j);
    return j.get<double>();
  }

  // Rules a template must keep for matching to be well defined.
  void check(const Template& t, const std::string& at, const std::string& nodes_at) const {
    std::vector<int> var_reads(t.vars.size(), 0);
    for (const RoleSpec& role : t.roles)
      for (const InputSpec& in : role.inputs)
        if (in.ref.kind == Ref::Kind::kVar) ++var_reads[in.ref.index];
    for (size_t v = 0; v < t.vars.size(); ++v)
      if (var_reads[v] == 0)
        error(at_key(at_key(at, "values"), t.vars[v].name), "no input reads \"$" + t.vars[v].name + "\"");

    for (size_t r = 0; r < t.roles.size(); ++r) {
      const RoleSpec& role = t.roles[r];
      for (const InputSpec& in : role.inputs) {
        if (in.ref.kind == Ref::Kind::kRole) {
          if (in.ref.index == r) error(in.pointer, "a role cannot read its own output");
          const RoleSpec& src = t.roles[in.ref.index];
          if (in.ref.output != 0 && src.repeated())
            error(in.pointer, "\"" + src.name + "\" is optional or repeated: read its output 0 (\"" + src.name + "\")");
        }
        if (!role.repeated()) continue;
        const bool is_link = in.key == role.link;
        if (role.link.any) error(in.pointer, "a repeated role whose link is \"*\" cannot constrain its inputs");
        if (role.max > 1 && !is_link)
          error(in.pointer,
                "a repeated role (\"max\" > 1) can only name its link input (argument " + link_text(role) + ")");
        if (!is_link && (in.ref.kind != Ref::Kind::kVar || var_reads[in.ref.index] != 1))
          error(in.pointer,
                "when the optional node is absent this input is not read: it may only name a value variable "
                "that no other input reads (its link, argument " +
                    link_text(role) + ", passes the value on)");
      }
    }
    // No cycles among roles (inputs point upstream).
    std::vector<int> state(t.roles.size(), 0);  // 0 new, 1 on the stack, 2 done
    std::function<void(size_t, std::vector<std::string>&)> visit = [&](size_t r, std::vector<std::string>& path) {
      state[r] = 1;
      path.push_back(t.roles[r].name);
      for (const InputSpec& in : t.roles[r].inputs) {
        if (in.ref.kind != Ref::Kind::kRole) continue;
        if (state[in.ref.index] == 1) {
          std::string cycle;
          for (const auto& name : path) cycle += name + " <- ";
          error(nodes_at, "the roles' inputs form a cycle: " + cycle + t.roles[in.ref.index].name);
        }
        if (state[in.ref.index] == 0) visit(in.ref.index, path);
      }
      path.pop_back();
      state[r] = 2;
    };
    std::vector<std::string> path;
    for (size_t r = 0; r < t.roles.size(); ++r)
      if (state[r] == 0) visit(r, path);
  }

  static std::string link_text(const RoleSpec& role) {
    if (role.link.any) return "\"*\"";
    if (!role.link.name.empty()) return "\"" + role.link.name + "\"";
    return std::to_string(role.link.index);
  }

  uint32_t anchor(const Json& spec, const std::string& at, const Template& t,
                  const std::map<std::string, uint32_t>& roles) const {
    if (const Json* a = optional(spec, "anchor")) {
      std::string a_at = at_key(at, "anchor");
      const std::string& name = string(*a, a_at);
      auto it = roles.find(name);
      if (it == roles.end()) error(a_at, "\"" + name + "\" is not a role of this pattern");
      if (t.roles[it->second].min == 0) error(a_at, "the anchor \"" + name + "\" must not be optional");
      return it->second;
    }
    std::vector<bool> read(t.roles.size(), false);
    for (const RoleSpec& role : t.roles)
      for (const InputSpec& in : role.inputs)
        if (in.ref.kind == Ref::Kind::kRole) read[in.ref.index] = true;
    std::vector<std::string> roots;
    uint32_t root = 0;
    for (uint32_t r = 0; r < t.roles.size(); ++r)
      if (!read[r]) {
        roots.push_back(t.roles[r].name);
        root = r;
      }
    if (roots.size() > 1)
      error(at, "the pattern has several outputs (" + join(roots) + "): name the role to start from with \"anchor\"");
    if (t.roles[root].min == 0)
      error(at, "the pattern's output \"" + t.roles[root].name +
                    "\" is optional: name a role that is always present with \"anchor\"");
    return root;
  }

  // The binding order: from the anchor, first to sources (one candidate each: the producer
  // of a value), then to readers (several candidates) one at a time.
  void plan(Template& t) const {
    std::vector<bool> role_bound(t.roles.size(), false), var_bound(t.vars.size(), false);
    role_bound[t.anchor] = true;
    struct Edge {
      uint32_t role, input;
      bool done;
    };
    std::vector<Edge> edges;
    for (uint32_t r = 0; r < t.roles.size(); ++r)
      for (uint32_t k = 0; k < t.roles[r].inputs.size(); ++k) edges.push_back({r, k, false});
    auto source_bound = [&](const Ref& ref) {
      return ref.kind == Ref::Kind::kVar ? var_bound[ref.index] : role_bound[ref.index];
    };
    auto bind_source = [&](const Ref& ref) {
      if (ref.kind == Ref::Kind::kVar)
        var_bound[ref.index] = true;
      else
        role_bound[ref.index] = true;
    };
    for (size_t left = edges.size(); left > 0;) {
      bool progress = false;
      for (Edge& e : edges) {
        if (e.done || !role_bound[e.role]) continue;
        const Ref& ref = t.roles[e.role].inputs[e.input].ref;
        if (source_bound(ref)) {
          t.plan.push_back({StepKind::kCheck, e.role, e.input});
        } else {
          if (ref.follow_any) continue;  // a path search needs both ends
          t.plan.push_back({StepKind::kProducer, e.role, e.input});
          bind_source(ref);
        }
        e.done = progress = true;
        --left;
      }
      if (progress) continue;
      for (Edge& e : edges) {
        if (e.done || role_bound[e.role]) continue;
        const RoleSpec& reader = t.roles[e.role];
        const InputSpec& in = reader.inputs[e.input];
        if (!source_bound(in.ref) || in.ref.through || reader.link_through) continue;
        if (reader.repeated() && !(in.key == reader.link)) continue;
        t.plan.push_back({StepKind::kConsumer, e.role, e.input});
        role_bound[e.role] = true;
        e.done = progress = true;
        --left;
        break;
      }
      if (progress) continue;
      for (const Edge& e : edges) {
        const InputSpec& in = t.roles[e.role].inputs[e.input];
        if (!e.done && role_bound[e.role] && in.ref.follow_any)
          error(in.pointer, "this input looks along any path (\"follow\": \"any\"), so its source \"" + in.ref.text +
                                "\" must be matched through another input first; no other input reaches it");
      }
      for (const Edge& e : edges) {
        const InputSpec& in = t.roles[e.role].inputs[e.input];
        if (!e.done && source_bound(in.ref))
          error(in.pointer,
                "\"" + t.roles[e.role].name + "\" reads \"" + in.ref.text +
                    "\" downstream of the anchor, where inputs are followed to their readers: this input cannot "
                    "look through operators and a repeated role can only be reached through its link; "
                    "choose another \"anchor\"");
      }
      break;
    }
    for (uint32_t r = 0; r < t.roles.size(); ++r)
      if (!role_bound[r])
        error(t.roles[r].pointer, "\"" + t.roles[r].name + "\" is not connected to the anchor \"" +
                                      t.roles[t.anchor].name + "\" through inputs");
  }

  std::unique_ptr<Pattern> pattern(const Json& j, const std::string& at) const {
    object(j, at);
    known_keys(j, at, {"name", "description", "confidence", "anchor", "nodes", "values", "variants"});
    const std::string& name = string(required(j, at, "name"), at_key(at, "name"));
    if (!pattern_name_valid(name))
      expected(at_key(at, "name"), "a pattern name of lower case letters, digits and _ ([a-z][a-z0-9_]*)", j["name"]);
    const std::string& description = string(required(j, at, "description"), at_key(at, "description"));
    if (description.empty()) error(at_key(at, "description"), "say in a sentence what the pattern finds");
    double confidence = 1.0;
    if (const Json* c = optional(j, "confidence")) confidence = confidence_value(*c, at_key(at, "confidence"));
    std::vector<Template> templates;
    if (const Json* variants = optional(j, "variants")) {
      for (const char* key : {"nodes", "anchor", "values"})
        if (optional(j, key))
          error(at, std::string("\"") + key + "\" belongs in each of \"variants\" when a pattern has variants");
      std::string v_at = at_key(at, "variants");
      array(*variants, v_at);
      if (variants->empty()) error(v_at, "expected at least one variant");
      std::set<std::string> names;
      for (size_t i = 0; i < variants->size(); ++i) {
        std::string item_at = at_index(v_at, i);
        const Json& v = object((*variants)[i], item_at);
        known_keys(v, item_at, {"name", "confidence", "anchor", "nodes", "values"});
        const std::string& vname = string(required(v, item_at, "name"), at_key(item_at, "name"));
        if (!is_identifier(vname))
          expected(at_key(item_at, "name"), "a variant name ([A-Za-z_][A-Za-z0-9_]*)", v["name"]);
        if (!names.insert(vname).second) error(at_key(item_at, "name"), "variant \"" + vname + "\" is defined twice");
        templates.push_back(template_(v, item_at, vname, confidence));
      }
    } else {
      templates.push_back(template_(j, at, "", confidence));
    }
    return std::make_unique<TemplatePattern>(name, description, source_, std::move(templates));
  }

  std::vector<std::unique_ptr<Pattern>> file(const Json& doc) {
    known_keys(doc, "", {"format", "version", "description", "op_sets", "patterns"});
    if (const Json* d = optional(doc, "description")) string(*d, "/description");
    if (const Json* sets = optional(doc, "op_sets")) op_sets(*sets, "/op_sets");
    const Json& patterns = array(required(doc, "", "patterns"), "/patterns");
    if (patterns.empty()) error("/patterns", "expected at least one pattern");
    std::vector<std::unique_ptr<Pattern>> out;
    for (size_t i = 0; i < patterns.size(); ++i) {
      std::string at = at_index("/patterns", i);
      auto p = pattern(patterns[i], at);
      for (const auto& other : out)
        if (other->name() == p->name())
          error(at_key(at, "name"), "pattern \"" + p->name() + "\" is defined twice in this file");
      out.push_back(std::move(p));
    }
    return out;
  }

 private:
  std::string source_;
  bool strict_;
  std::map<std::string, std::vector<OpAlternative>> op_sets_;
};


}  // namespace

std::vector<std::unique_ptr<Pattern>> patterns_from_json(std::string_view text, const std::string& source) {
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    fail(ErrorKind::kBadInput, source + ": invalid JSON: " + json_parse_error_text(e.what()));
  }
  Reader header(source, false);
  header.object(doc, "");
  const Json& format = header.required(doc, "", "format");
  if (!format.is_string() || format.get<std::string>() != kPatternsFormat)
    header.expected("/format", "\"genie.patterns\"", format);
  const Json& version = header.object(header.required(doc, "", "version"), "/version");
  header.known_keys(version, "/version", {"major", "minor"});
  int64_t major = header.integer(header.required(version, "/version", "major"), "/version/major", 0, 1 << 30);
  int64_t minor = header.integer(header.required(version, "/version", "minor"), "/version/minor", 0, 1 << 30);
  if (major != kPatternsVersionMajor)
    fail(ErrorKind::kUnsupported, source + ": /version: patterns format version " + std::to_string(major) + "." +
                                      std::to_string(minor) + " is not supported (this build reads " +
                                      std::to_string(kPatternsVersionMajor) + ".x)");
  Reader reader(source, minor <= kPatternsVersionMinor);
  return reader.file(doc);
}

std::string patterns_builtin_dir() {
  const char* env = std::getenv("GENIE_PATTERNS_DIR");
  if (env && *env) return env;
  return GENIE_BUILTIN_PATTERNS_DIR;
}

PatternSet patterns_load(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  auto add_dir = [&](const std::string& dir) {
    std::vector<std::string> found;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".json" && it->is_regular_file())
        found.push_back((fs::path(dir) / it->path().filename()).string());
    if (ec) fail(ErrorKind::kIo, dir + ": cannot read the directory: " + ec.message());
    std::sort(found.begin(), found.end());
    if (found.empty()) fail(ErrorKind::kIo, dir + ": no pattern files (*.json) in the directory");
    files.insert(files.end(), found.begin(), found.end());
  };
  if (paths.empty()) {
    const std::string dir = patterns_builtin_dir();
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      fail(ErrorKind::kIo,
           dir + ": the built-in pattern directory is missing (set GENIE_PATTERNS_DIR or pass --patterns)");
    add_dir(dir);
  }
  for (const std::string& path : paths) {
    std::error_code ec;
    if (path != "-" && fs::is_directory(path, ec))
      add_dir(path);
    else
      files.push_back(path);
  }
  PatternSet set;
  for (const std::string& file : files)
    for (auto& p : patterns_from_json(read_file(file), display_path(file))) set.add(std::move(p));
  for (const PatternPlugin* plugin : pattern_plugins()) set.add(pattern_from_plugin(*plugin));
  return set;
}

}  // namespace genie
