#include "patterns/matcher.h"

#include <algorithm>
#include <optional>

namespace genie {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------
// Predicates

const Argument* find_arg(const Node& node, const ArgKey& key) {
  if (!key.name.empty()) {
    for (const Argument& a : node.inputs)
      if (a.name == key.name) return &a;
    return nullptr;
  }
  if (key.index < 0 || static_cast<size_t>(key.index) >= node.inputs.size()) return nullptr;
  return &node.inputs[static_cast<size_t>(key.index)];
}

bool number_equals(double a, const json& lit) {
  return lit.is_number() && a == lit.get<double>();
}
bool int_equals(int64_t a, const json& lit) {
  if (lit.is_number_integer())
    return !lit.is_number_unsigned() ? a == lit.get<int64_t>() : a >= 0 && uint64_t(a) == lit.get<uint64_t>();
  return lit.is_number_float() && static_cast<double>(a) == lit.get<double>();
}

template <typename T, typename Eq>
bool list_equals(const std::vector<T>& v, const json& lit, Eq eq) {
  if (!lit.is_array() || lit.size() != v.size()) return false;
  for (size_t i = 0; i < v.size(); ++i)
    if (!eq(v[i], lit[i])) return false;
  return true;
}

bool literal_equals(const ArgValue& value, const json& lit) {
  return std::visit(
      [&](const auto& v) -> bool {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          return lit.is_null();
        else if constexpr (std::is_same_v<T, int64_t>)
          return int_equals(v, lit);
        else if constexpr (std::is_same_v<T, double>)
          return number_equals(v, lit);
        else if constexpr (std::is_same_v<T, bool>)
          return lit.is_boolean() && lit.get<bool>() == v;
        else if constexpr (std::is_same_v<T, std::string>)
          return lit.is_string() && lit.get_ref<const std::string&>() == v;
        else if constexpr (std::is_same_v<T, DType>)
          return lit.is_string() && lit.get_ref<const std::string&>() == dtype_name(v);
        else if constexpr (std::is_same_v<T, Layout>)
          return lit.is_string() && lit.get_ref<const std::string&>() == layout_name(v);
        else if constexpr (std::is_same_v<T, MemoryFormat>)
          return lit.is_string() && lit.get_ref<const std::string&>() == memory_format_name(v);
        else if constexpr (std::is_same_v<T, Device>)
          return lit.is_string() && lit.get_ref<const std::string&>() == v.name;
        else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
          return list_equals(v, lit, int_equals);
        else if constexpr (std::is_same_v<T, std::vector<double>>)
          return list_equals(v, lit, number_equals);
        else if constexpr (std::is_same_v<T, std::vector<bool>>)
          return list_equals(v, lit, [](bool b, const json& l) { return l.is_boolean() && l.get<bool>() == b; });
        else
          return false;  // tensors and complex numbers are not compared with literals
      },
      value);
}

std::optional<double> numeric(const ArgValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::nullopt;
}

bool arg_test(const ArgValue& value, const ArgTest& test) {
  switch (test.op) {
    case CompareOp::kEq:
      return literal_equals(value, test.operand);
    case CompareOp::kNe:
      return !literal_equals(value, test.operand);
    case CompareOp::kIn:
      for (const json& lit : test.operand)
        if (literal_equals(value, lit)) return true;
      return false;
    default:
      break;
  }
  std::optional<double> x = numeric(value);
  if (!x) return false;
  double y = test.operand.get<double>();
  switch (test.op) {
    case CompareOp::kLt:
      return *x < y;
    case CompareOp::kLe:
      return *x <= y;
    case CompareOp::kGt:
      return *x > y;
    default:
      return *x >= y;
  }
}

bool predicates_hold(const Node& node, const std::vector<ArgPredicate>& preds) {
  for (const ArgPredicate& p : preds) {
    const Argument* arg = find_arg(node, p.key);
    if (!arg) return false;
    for (const ArgTest& t : p.tests)
      if (!arg_test(arg->value, t)) return false;
  }
  return true;
}

bool type_trivial(const TypePredicate& p) {
  return p.dtypes.empty() && p.rank_min < 0 && p.rank_max < 0 && !p.has_shape && p.residencies.empty();
}

bool type_holds(const TypePredicate& p, const Value& value) {
  if (!p.dtypes.empty() && std::find(p.dtypes.begin(), p.dtypes.end(), value.type.dtype) == p.dtypes.end())
    return false;
  const auto rank = static_cast<int64_t>(value.type.shape.size());
  if (p.rank_min >= 0 && rank < p.rank_min) return false;
  if (p.rank_max >= 0 && rank > p.rank_max) return false;
  if (p.has_shape) {
    if (p.shape.size() != value.type.shape.size()) return false;
    for (size_t i = 0; i < p.shape.size(); ++i)
      if (p.shape[i] >= 0 && p.shape[i] != value.type.shape[i]) return false;
  }
  if (!p.residencies.empty() &&
      std::find(p.residencies.begin(), p.residencies.end(), value.residency) == p.residencies.end())
    return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// Operator sets, resolved against one graph's operator ids.

constexpr uint8_t kOpNo = 0, kOpYes = 1, kOpIfArgs = 2;

struct CompiledOps {
  const OpSet* set = nullptr;
  std::vector<uint8_t> by_op;

  void compile(const OpSet& s, const GraphIndex& index) {
    set = &s;
    if (s.any) return;
    by_op.assign(index.op_count(), kOpNo);
    for (uint32_t id = 0; id < index.op_count(); ++id)
      for (const OpAlternative& alt : s.alternatives)
        if (alt.name == index.op_qualified(id) || alt.name == index.op_base(id))
          by_op[id] = (alt.args.empty() || by_op[id] == kOpYes) ? kOpYes : kOpIfArgs;
  }

  bool admits(const GraphIndex& index, NodeId n) const {
    if (set->any) return true;
    uint32_t id = index.op_id(n);
    if (by_op[id] == kOpYes) return true;
    if (by_op[id] == kOpNo) return false;
    const Node& node = index.graph().nodes[n];
    for (const OpAlternative& alt : set->alternatives)
      if ((alt.name == index.op_qualified(id) || alt.name == index.op_base(id)) && predicates_hold(node, alt.args))
        return true;
    return false;
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------
// The matcher

namespace {

struct Binding {
  bool swapped = false;
  std::vector<NodeId> nodes;   // upstream first
  ValueId link_in = kNoValue;  // an empty chain's (absent optional node's) passed-on value
};

struct Through {
  NodeId node;
  int32_t group;  // Template::as_names index, or -1
};

}  // namespace

class TemplateMatcher {
 public:
  TemplateMatcher(const Template& t, const GraphIndex& index, std::vector<uint8_t>& claimed, MatchScratch& scratch)
      : t_(t), ix_(index), g_(index.graph()), claimed_(claimed), s_(scratch) {
    const size_t roles = t.roles.size();
    role_ops_.resize(roles);
    link_ops_.resize(roles);
    input_ops_.resize(roles);
    bool needs_search = false;
    for (size_t r = 0; r < roles; ++r) {
      const RoleSpec& spec = t.roles[r];
      role_ops_[r].compile(spec.ops, index);
      if (spec.link_through) link_ops_[r].compile(spec.link_through_ops, index);
      input_ops_[r].resize(spec.inputs.size());
      for (size_t k = 0; k < spec.inputs.size(); ++k) {
        const Ref& ref = spec.inputs[k].ref;
        if (ref.through) input_ops_[r][k].compile(ref.through_ops, index);
        needs_search = needs_search || ref.follow_any;
      }
    }
    if (needs_search && s_.seen.empty()) {
      s_.seen.assign(g_.values.size(), 0);
      s_.via_node.assign(g_.values.size(), kNoNode);
      s_.via_value.assign(g_.values.size(), kNoValue);
    }
    roles_.resize(roles);
    vars_.assign(t.vars.size(), kNoValue);
  }

  // Tries to match with the anchor role at node n; on success fills `out`.
  bool run(NodeId n, Match& out) {
    for (uint32_t r = 0; r < roles_.size(); ++r) clear(r);
    std::fill(vars_.begin(), vars_.end(), kNoValue);
    bool found = false;
    const uint32_t a = t_.anchor;
    if (fits(a, n)) {
      if (t_.roles[a].max > 1)
        found = chain_backward(0, a, n);
      else
        found = bind_node(0, a, n);
    }
    if (found) record(n, out);
    undo(0, 0);
    return found;
  }

 private:
  // -- state -----------------------------------------------------------------------------

  // A node is bound to at most one role of a match and is then not looked through; nodes
  // looked through may be shared by several inputs (the reshapes of a packed QKV projection).
  static constexpr uint32_t kRoleMark = 1u << 16;
  bool is_role(NodeId n) const { return used_[n] >= kRoleMark; }
  void mark(NodeId n) {
    used_[n] += kRoleMark;
    used_stack_.push_back({n, kRoleMark});
  }
  void undo(size_t used_size, size_t through_size) {
    while (used_stack_.size() > used_size) {
      used_[used_stack_.back().first] -= used_stack_.back().second;
      used_stack_.pop_back();
    }
    through_.resize(through_size);
  }
  // Bindings keep their vectors' capacity: binding is the matcher's innermost operation.
  void bind(uint32_t r, bool swapped, ValueId link_in) {
    roles_[r].swapped = swapped;
    roles_[r].link_in = link_in;
    roles_[r].nodes.clear();
  }
  void clear(uint32_t r) { bind(r, false, kNoValue); }

  void add_through(NodeId n, int32_t group) {
    used_[n] += 1;
    used_stack_.push_back({n, 1});
    through_.push_back({n, group});
  }

  bool fits(uint32_t r, NodeId n) const {
    if (used_[n] || claimed_[n]) return false;
    const RoleSpec& spec = t_.roles[r];
    if (!role_ops_[r].admits(ix_, n)) return false;
    if (!spec.module_types.empty() && std::find(spec.module_types.begin(), spec.module_types.end(),
                                                g_.nodes[n].module_type) == spec.module_types.end())
      return false;
    if (!spec.args.empty() && !predicates_hold(g_.nodes[n], spec.args)) return false;
    if (!type_trivial(spec.type) || spec.same_shape) {
      ValueId v = ix_.output_value(n, 0);
      if (v == kNoValue || !type_holds(spec.type, g_.values[v])) return false;
      if (spec.same_shape) {
        const std::vector<int64_t>& shape = g_.values[v].type.shape;
        for (ValueId in : ix_.inputs(n))
          if (g_.values[in].type.shape != shape) return false;
      }
    }
    return true;
  }

  // Calls f(arg index) for the arguments `key` names on node n, until f returns true.
  template <typename F>
  bool for_each_arg(NodeId n, const ArgKey& key, bool swapped, F&& f) const {
    if (key.any) {
      for (uint32_t a = 0, count = ix_.arg_count(n); a < count; ++a)
        if (ix_.arg_value(n, a) != kNoValue && f(a)) return true;
      return false;
    }
    int64_t index = key.index;
    if (!key.name.empty()) {
      const Node& node = g_.nodes[n];
      index = -1;
      for (size_t a = 0; a < node.inputs.size() && index < 0; ++a)
        if (node.inputs[a].name == key.name) index = static_cast<int64_t>(a);
      if (index < 0) return false;
    }
    if (swapped && index < 2) index = 1 - index;
    return static_cast<uint32_t>(index) < ix_.arg_count(n) && f(static_cast<uint32_t>(index));
  }

  // Calls f(value) for each tensor the role's input reads, until f returns true. An absent
  // optional node reads nothing but passes its link value on: f(kNoValue) for its other
  // inputs (their variables stay unbound).
  template <typename F>
  bool for_each_read(uint32_t r, const InputSpec& in, F&& f) const {
    const Binding& b = roles_[r];
    if (b.nodes.empty()) return f(in.key == t_.roles[r].link ? b.link_in : kNoValue);
    NodeId n = b.nodes.front();
    return for_each_arg(n, in.key, b.swapped, [&](uint32_t a) {
      ValueId v = ix_.arg_value(n, a);
      return v != kNoValue && f(v);
    });
  }

  ValueId out_value(const Ref& ref) const {
    if (ref.kind == Ref::Kind::kVar) return vars_[ref.index];
    const Binding& b = roles_[ref.index];
    if (b.nodes.empty()) return b.link_in;
    return ix_.output_value(b.nodes.back(), ref.output);
  }

  ValueId first_tensor(NodeId n) const {
    for (uint32_t a = 0, count = ix_.arg_count(n); a < count; ++a)
      if (ValueId v = ix_.arg_value(n, a); v != kNoValue) return v;
    return kNoValue;
  }

  // Walks up from v through producers that `ops` admits, along their first tensor argument,
  // at most `max` nodes, marking them. With a target, stops there and returns it (kNoValue if
  // the walk cannot reach it); without, returns the value where the run ends, or where a
  // producer fits `stop_role` (the unbound role the input reads).
  ValueId walk_up(ValueId v, const CompiledOps& ops, uint32_t max, ValueId target, int32_t group,
                  int64_t stop_role = -1) {
    const size_t start = through_.size();
    uint32_t hops = 0;
    while (v != target) {
      NodeId p = ix_.producer(v);
      if (hops == max || p == kNoNode || is_role(p) || !ops.admits(ix_, p)) break;
      if (stop_role >= 0 && fits(static_cast<uint32_t>(stop_role), p)) break;
      ValueId up = first_tensor(p);
      if (up == kNoValue) break;
      add_through(p, group);
      v = up;
      ++hops;
    }
    std::reverse(through_.begin() + static_cast<std::ptrdiff_t>(start), through_.end());  // upstream first
    if (target != kNoValue && v != target) return kNoValue;
    return v;
  }

  // A shortest path from v up to `target` through nodes `ops` admits, along any tensor
  // argument, of at most `max` nodes (breadth-first). Nodes placed before the target's
  // producer in topological order cannot lead to it and are not entered. Marks the path.
  bool find_path(ValueId v, ValueId target, const CompiledOps& ops, uint32_t min, uint32_t max, int32_t group) {
    if (v == target) return min == 0;
    if (++s_.epoch == 0) {
      std::fill(s_.seen.begin(), s_.seen.end(), 0);
      s_.epoch = 1;
    }
    const NodeId target_producer = ix_.producer(target);
    const int64_t floor = target_producer == kNoNode ? -1 : static_cast<int64_t>(ix_.position(target_producer));
    queue_.clear();
    queue_.push_back({v, 0});
    s_.seen[v] = s_.epoch;
    for (size_t head = 0; head < queue_.size(); ++head) {
      const auto [value, depth] = queue_[head];
      NodeId p = ix_.producer(value);
      if (depth == max || p == kNoNode || is_role(p) || static_cast<int64_t>(ix_.position(p)) <= floor ||
          !ops.admits(ix_, p))
        continue;
      bool reached = false;
      for (ValueId u : ix_.inputs(p)) {
        if (s_.seen[u] == s_.epoch) continue;
        s_.seen[u] = s_.epoch;
        s_.via_node[u] = p;
        s_.via_value[u] = value;
        if (u == target) {
          reached = true;
          break;
        }
        queue_.push_back({u, depth + 1});
      }
      if (reached) {
        for (ValueId x = target; x != v; x = s_.via_value[x]) add_through(s_.via_node[x], group);
        return true;  // upstream first: the first node added reads the target
      }
    }
    return false;
  }

  // -- plan steps ------------------------------------------------------------------------

  bool step(size_t i) {
    if (i == t_.plan.size()) return finish();
    const PlanStep& s = t_.plan[i];
    const InputSpec& in = t_.roles[s.role].inputs[s.input];
    switch (s.kind) {
      case StepKind::kProducer:
        return step_producer(i, s.role, s.input, in);
      case StepKind::kConsumer:
        return step_consumer(i, s.role, in);
      case StepKind::kCheck:
        return step_check(i, s.role, s.input, in);
    }
    return false;
  }

  // The reader is bound: bind what its input reads (a variable or the producing role).
  bool step_producer(size_t i, uint32_t r, uint32_t k, const InputSpec& in) {
    return for_each_read(r, in, [&](ValueId v) {
      if (v == kNoValue) return step(i + 1);
      const size_t used_size = used_stack_.size(), through_size = through_.size();
      if (in.ref.through) {
        v = walk_up(v, input_ops_[r][k], in.ref.max_hops, kNoValue, in.ref.as_group,
                    in.ref.kind == Ref::Kind::kRole ? int64_t(in.ref.index) : -1);
        if (through_.size() - through_size < in.ref.min_hops) {
          undo(used_size, through_size);
          return false;
        }
      }
      if (bind_source(i, in.ref, v)) return true;
      undo(used_size, through_size);
      return false;
    });
  }

  bool bind_source(size_t i, const Ref& ref, ValueId v) {
    if (ref.kind == Ref::Kind::kVar) {
      const TypePredicate& type = t_.vars[ref.index].type;
      if (!type_trivial(type) && !type_holds(type, g_.values[v])) return false;
      vars_[ref.index] = v;
      if (step(i + 1)) return true;
      vars_[ref.index] = kNoValue;
      return false;
    }
    const uint32_t r = ref.index;
    const RoleSpec& spec = t_.roles[r];
    NodeId p = ix_.producer(v);
    if (p != kNoNode && ix_.producer_slot(v) == ref.output && fits(r, p)) {
      if (spec.max > 1 ? chain_backward(i + 1, r, p) : bind_node(i + 1, r, p)) return true;
    }
    return spec.min == 0 && bind_empty(i + 1, r, v);
  }

  // The input's source is bound: bind the role that reads it.
  bool step_consumer(size_t i, uint32_t r, const InputSpec& in) {
    const RoleSpec& spec = t_.roles[r];
    const ValueId v = out_value(in.ref);
    if (v == kNoValue) return false;
    NodeId previous = kNoNode;
    for (const GraphIndex::Use& use : ix_.uses(v)) {
      if (use.node == previous) continue;
      previous = use.node;
      if (!fits(r, use.node)) continue;
      for (bool swapped : {false, true}) {
        if (swapped && !spec.commutative) break;
        bool reads =
            for_each_arg(use.node, in.key, swapped, [&](uint32_t a) { return ix_.arg_value(use.node, a) == v; });
        if (!reads) continue;
        if (spec.max > 1 ? chain_forward(i + 1, r, use.node) : bind_node(i + 1, r, use.node, swapped)) return true;
      }
    }
    return spec.min == 0 && bind_empty(i + 1, r, v);
  }

  bool step_check(size_t i, uint32_t r, uint32_t k, const InputSpec& in) {
    const ValueId target = out_value(in.ref);
    return for_each_read(r, in, [&](ValueId v) {
      if (v == kNoValue) return step(i + 1);
      if (target == kNoValue) return false;
      if (!in.ref.through) return v == target && step(i + 1);
      const size_t used_size = used_stack_.size(), through_size = through_.size();
      bool reached = in.ref.follow_any
                         ? find_path(v, target, input_ops_[r][k], in.ref.min_hops, in.ref.max_hops, in.ref.as_group)
                         : walk_up(v, input_ops_[r][k], in.ref.max_hops, target, in.ref.as_group) != kNoValue;
      if (reached && through_.size() - through_size >= in.ref.min_hops && step(i + 1)) return true;
      undo(used_size, through_size);
      return false;
    });
  }

  // -- binding roles ---------------------------------------------------------------------

  // Binds one node (both input orders if commutative, unless `only_swapped` says which).
  bool bind_node(size_t next, uint32_t r, NodeId n, std::optional<bool> only_swapped = std::nullopt) {
    const size_t used_size = used_stack_.size(), through_size = through_.size();
    for (bool swapped : {false, true}) {
      if (swapped && !t_.roles[r].commutative) break;
      if (only_swapped && *only_swapped != swapped) continue;
      bind(r, swapped, kNoValue);
      roles_[r].nodes.push_back(n);
      mark(n);
      if (step(next)) return true;
      undo(used_size, through_size);
    }
    clear(r);
    return false;
  }

  bool bind_empty(size_t next, uint32_t r, ValueId passed_on) {
    bind(r, false, passed_on);
    if (step(next)) return true;
    clear(r);
    return false;
  }

  // Tries chains of `nodes` (upstream first) from the longest down to the role's minimum;
  // gaps[j] holds the looked-through nodes between nodes[j] and nodes[j + 1]. `keep_tail`:
  // shorter chains keep the downstream end (built backwards) or the upstream end (forwards).
  bool bind_chain(size_t next, uint32_t r, const std::vector<NodeId>& nodes,
                  const std::vector<std::vector<NodeId>>& gaps, bool keep_tail) {
    const RoleSpec& spec = t_.roles[r];
    const size_t used_size = used_stack_.size(), through_size = through_.size();
    const size_t lowest = std::max<size_t>(spec.min, 1);
    for (size_t len = nodes.size(); len >= lowest; --len) {
      const size_t first = keep_tail ? nodes.size() - len : 0;
      bind(r, false, kNoValue);
      for (size_t j = first; j < first + len; ++j) {
        roles_[r].nodes.push_back(nodes[j]);
        mark(nodes[j]);
      }
      for (size_t j = first; j + 1 < first + len; ++j)
        for (NodeId n : gaps[j]) add_through(n, -1);
      if (step(next)) return true;
      undo(used_size, through_size);
    }
    clear(r);
    return false;
  }

  // A chain whose last node is `last`: extend upstream through the link argument.
  bool chain_backward(size_t next, uint32_t r, NodeId last) {
    const RoleSpec& spec = t_.roles[r];
    std::vector<NodeId> rev{last};
    std::vector<std::vector<NodeId>> rev_gaps;
    const size_t through_size = through_.size(), used_size = used_stack_.size();
    for (NodeId cur = last; rev.size() < spec.max;) {
      NodeId found = kNoNode;
      for_each_arg(cur, spec.link, false, [&](uint32_t a) {
        ValueId v = ix_.arg_value(cur, a);
        if (v == kNoValue) return false;
        const size_t mark_size = through_.size(), used_mark = used_stack_.size();
        if (spec.link_through) v = walk_up(v, link_ops_[r], spec.link_max_through, kNoValue, -1, r);
        NodeId p = ix_.producer(v);
        if (p != kNoNode && ix_.producer_slot(v) == 0 && fits(r, p)) {
          std::vector<NodeId> gap;
          for (size_t j = mark_size; j < through_.size(); ++j) gap.push_back(through_[j].node);
          rev_gaps.push_back(std::move(gap));
          found = p;
        }
        undo(used_mark, mark_size);
        return found != kNoNode;
      });
      if (found == kNoNode) break;
      rev.push_back(found);
      cur = found;
      // Chain nodes found so far must not be looked through by the next link's walk.
      mark(found);
    }
    undo(used_size, through_size);
    std::reverse(rev.begin(), rev.end());
    std::reverse(rev_gaps.begin(), rev_gaps.end());
    return bind_chain(next, r, rev, rev_gaps, /*keep_tail=*/true);
  }

  // A chain whose first node is `first`: extend downstream to readers through the link.
  bool chain_forward(size_t next, uint32_t r, NodeId first) {
    const RoleSpec& spec = t_.roles[r];
    std::vector<NodeId> nodes{first};
    const size_t used_size = used_stack_.size();
    mark(first);
    for (NodeId cur = first; nodes.size() < spec.max;) {
      ValueId v = ix_.output_value(cur, 0);
      NodeId found = kNoNode;
      if (v != kNoValue) {
        for (const GraphIndex::Use& use : ix_.uses(v)) {
          if (!fits(r, use.node)) continue;
          bool reads =
              for_each_arg(use.node, spec.link, false, [&](uint32_t a) { return ix_.arg_value(use.node, a) == v; });
          if (reads) {
            found = use.node;
            break;
          }
        }
      }
      if (found == kNoNode) break;
      nodes.push_back(found);
      mark(found);
      cur = found;
    }
    undo(used_size, through_.size());
    std::vector<std::vector<NodeId>> gaps(nodes.size());
    return bind_chain(next, r, nodes, gaps, /*keep_tail=*/false);
  }

  // Every step bound: check single use.
  bool finish() const {
    for (size_t r = 0; r < t_.roles.size(); ++r) {
      if (!t_.roles[r].single_use) continue;
      for (NodeId n : roles_[r].nodes)
        for (const Output& out : g_.nodes[n].outputs)
          for (ValueId v : out.values) {
            if (ix_.is_graph_output(v)) return false;
            for (const GraphIndex::Use& use : ix_.uses(v))
              if (!used_[use.node]) return false;
          }
    }
    return true;
  }

  void record(NodeId anchor, Match& m) {
    m.anchor = anchor;
    m.confidence = t_.confidence;
    m.roles.clear();
    m.values.clear();
    m.nodes.clear();
    std::vector<NodeId>& named = named_;
    named.clear();
    m.roles.reserve(t_.roles.size() + t_.as_names.size());
    for (size_t r = 0; r < t_.roles.size(); ++r) {
      const Binding& b = roles_[r];
      if (b.nodes.empty()) continue;
      m.roles.emplace_back(t_.roles[r].name, b.nodes);
      named.insert(named.end(), b.nodes.begin(), b.nodes.end());
      for (NodeId n : b.nodes) claimed_[n] = 1;
    }
    for (size_t group = 0; group < t_.as_names.size(); ++group) {
      std::vector<NodeId> nodes;
      for (const Through& th : through_)
        if (th.group == static_cast<int32_t>(group)) nodes.push_back(th.node);
      if (nodes.empty()) continue;
      named.insert(named.end(), nodes.begin(), nodes.end());
      m.roles.emplace_back(t_.as_names[group], std::move(nodes));
    }
    m.nodes.reserve(used_stack_.size());
    for (const auto& [n, kind] : used_stack_) m.nodes.push_back(n);
    std::sort(m.nodes.begin(), m.nodes.end());
    m.nodes.erase(std::unique(m.nodes.begin(), m.nodes.end()), m.nodes.end());
    for (size_t v = 0; v < t_.vars.size(); ++v)
      if (vars_[v] != kNoValue) m.values.emplace_back(t_.vars[v].name, vars_[v]);
    m.scope = match_scope(g_, named);
  }

  const Template& t_;
  const GraphIndex& ix_;
  const Graph& g_;
  std::vector<uint8_t>& claimed_;
  std::vector<CompiledOps> role_ops_, link_ops_;
  std::vector<std::vector<CompiledOps>> input_ops_;

  std::vector<Binding> roles_;
  std::vector<ValueId> vars_;
  MatchScratch& s_;
  std::vector<uint32_t>& used_ = s_.used;  // kRoleMark per role binding + 1 per input looking through
  std::vector<std::pair<NodeId, uint32_t>> used_stack_;
  std::vector<Through> through_;
  std::vector<NodeId> named_;  // record()'s scratch

  std::vector<std::pair<ValueId, uint32_t>> queue_;  // breadth-first search
};

MatchScratch::MatchScratch(const GraphIndex& index) : used(index.node_count(), 0) {}

PatternMatcher::PatternMatcher(const TemplatePattern& pattern, const GraphIndex& index, MatchScratch* scratch)
    : pattern_(pattern), claimed_(index.node_count(), 0) {
  if (!scratch) {
    own_scratch_ = std::make_unique<MatchScratch>(index);
    scratch = own_scratch_.get();
  }
  const auto& templates = pattern.templates();
  variants_.resize(templates.size());
  for (uint32_t v = 0; v < templates.size(); ++v) {
    const Template& t = templates[v];
    CompiledOps anchor_ops;
    anchor_ops.compile(t.roles[t.anchor].ops, index);
    const size_t before = candidates_.size();
    if (t.roles[t.anchor].ops.any) {
      for (NodeId n : index.order()) candidates_.push_back({n, v});
    } else {
      for (uint32_t id = 0; id < index.op_count(); ++id)
        if (anchor_ops.by_op[id] != kOpNo)
          for (NodeId n : index.nodes_of_op(id)) candidates_.push_back({n, v});
    }
    // A variant without candidates costs nothing (its search state is per node).
    if (candidates_.size() > before) variants_[v] = std::make_unique<TemplateMatcher>(t, index, claimed_, *scratch);
  }
  // Tried from the back: the last position first, and at one node the first variant first.
  std::sort(candidates_.begin(), candidates_.end(), [&](const Candidate& a, const Candidate& b) {
    uint32_t pa = index.position(a.node), pb = index.position(b.node);
    return pa != pb ? pa < pb : a.variant > b.variant;
  });
}

PatternMatcher::~PatternMatcher() = default;

std::vector<Match> PatternMatcher::take() {
  const auto& templates = pattern_.templates();
  std::vector<Match> found;
  for (auto it = candidates_.rbegin(); it != candidates_.rend(); ++it) {
    Match m;
    if (!variants_[it->variant]->run(it->node, m)) continue;
    m.pattern = pattern_.name();
    m.variant = templates[it->variant].variant;
    found.push_back(std::move(m));
  }
  candidates_.clear();
  std::sort(found.begin(), found.end(), [](const Match& a, const Match& b) { return a.anchor < b.anchor; });
  return found;
}

}  // namespace genie
