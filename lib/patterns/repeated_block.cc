// The built-in plugin repeated_block: what a template cannot say, since it compares whole
// module scopes with each other. Layers of a transformer ("encoder.0", "encoder.1") and
// the blocks of a ResNet stage are the units a placement decision moves as a whole.
#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "patterns/graph_index.h"
#include "patterns/plugin.h"

namespace genie {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Calls f(prefix) for each prefix of a scope that ends in a numbered component:
// "features.3.conv.0" gives "features.3" and "features.3.conv.0".
template <typename F>
void for_each_numbered_prefix(std::string_view scope, F&& f) {
  size_t start = 0;
  while (start <= scope.size()) {
    size_t dot = scope.find('.', start);
    size_t end = dot == std::string_view::npos ? scope.size() : dot;
    if (all_digits(scope.substr(start, end - start))) f(scope.substr(0, end));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
}

std::string_view parent_of(std::string_view scope) {
  size_t dot = scope.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : scope.substr(0, dot);
}

// A block's signature is bytes: fixed-size numbers and length-prefixed text, compared
// exactly (after a hash) between sibling blocks. Written straight into a growing buffer:
// signatures take every node of the graph, so this is the plugin's inner loop.
class Bytes {
 public:
  void clear() { size_ = 0; }
  std::string_view view() const { return {data_.data(), size_}; }

  void put_raw(const void* p, size_t n) {
    if (size_ + n > data_.size()) data_.resize(std::max(2 * data_.size(), size_ + n + 4096));
    std::memcpy(data_.data() + size_, p, n);
    size_ += n;
  }
  template <typename T>
  void put(T v) {
    put_raw(&v, sizeof v);
  }
  void put_text(std::string_view s) {
    put(static_cast<uint32_t>(s.size()));
    put_raw(s.data(), s.size());
  }
  void put_type(const TensorType& type) {
    put(static_cast<uint8_t>(type.dtype));
    put(static_cast<uint8_t>(type.shape.size()));
    put_raw(type.shape.data(), type.shape.size() * sizeof(int64_t));
    if (!type.strides.empty() && !type.is_contiguous())
      put_raw(type.strides.data(), type.strides.size() * sizeof(int64_t));
  }

 private:
  std::vector<char> data_;
  size_t size_ = 0;
};

// A fast 64-bit hash of 8-byte words (signatures are long; std::hash reads bytes).
uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
  auto mix = [&](uint64_t w) {
    h ^= w * 0xC2B2AE3D27D4EB4Full;
    h = ((h << 31) | (h >> 33)) * 0x9E3779B185EBCA87ull;
  };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    mix(w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  mix(tail);
  return h ^ (h >> 29);
}

class RepeatedBlock : public PatternPlugin {
 public:
  std::string name() const override { return "repeated_block"; }
  std::string description() const override {
    return "Sibling module scopes (encoder.0, encoder.1, ...) that compute the same thing: the same operators, "
           "arguments and types, wired the same way. One match per scope; only the outermost are reported.";
  }

  std::vector<Match> match(const Graph& graph) const override { return match_indexed(GraphIndex(graph)); }

  std::vector<Match> match_indexed(const GraphIndex& index) const override {
    const Graph& graph = index.graph();
    // Blocks (views into the nodes' scopes) and their nodes in topological order; a run of
    // nodes with one scope is split into blocks once.
    std::unordered_map<std::string_view, uint32_t> block_id;
    std::vector<std::string_view> blocks;
    std::vector<std::vector<NodeId>> block_nodes;
    std::vector<uint32_t> current;
    const std::string* last_scope = nullptr;
    for (NodeId n : index.order()) {
      const std::string& scope = graph.nodes[n].scope;
      if (!last_scope || *last_scope != scope) {
        current.clear();
        for_each_numbered_prefix(scope, [&](std::string_view b) {
          auto [it, inserted] = block_id.emplace(b, static_cast<uint32_t>(blocks.size()));
          if (inserted) {
            blocks.push_back(b);
            block_nodes.emplace_back();
          }
          current.push_back(it->second);
        });
        last_scope = &scope;
      }
      for (uint32_t b : current) block_nodes[b].push_back(n);
    }

    // Group siblings by signature; one signature is kept per group.
    struct Group {
      std::string_view parent;
      std::string signature;
      std::vector<uint32_t> members;
    };
    std::vector<Group> groups;
    std::unordered_map<size_t, std::vector<size_t>> by_hash;
    Scratch scratch;
    scratch.local.assign(graph.nodes.size(), UINT32_MAX);
    scratch.outside.assign(graph.values.size(), UINT32_MAX);
    Bytes bytes;
    for (uint32_t b = 0; b < blocks.size(); ++b) {
      signature(index, blocks[b], block_nodes[b], scratch, bytes);
      const std::string_view sig = bytes.view();
      std::string_view parent = parent_of(blocks[b]);
      size_t h = hash_bytes(sig) ^ (std::hash<std::string_view>()(parent) * 31);
      std::vector<size_t>& candidates = by_hash[h];
      size_t g = SIZE_MAX;
      for (size_t c : candidates)
        if (groups[c].parent == parent && groups[c].signature == sig) g = c;
      if (g == SIZE_MAX) {
        g = groups.size();
        groups.push_back(Group{parent, std::string(sig), {}});
        candidates.push_back(g);
      }
      groups[g].members.push_back(b);
    }

    // Outermost first: a group inside a reported block is not reported.
    std::vector<size_t> by_depth;
    for (size_t g = 0; g < groups.size(); ++g)
      if (groups[g].members.size() > 1) by_depth.push_back(g);
    auto depth = [&](size_t g) { return std::count(groups[g].parent.begin(), groups[g].parent.end(), '.'); };
    std::stable_sort(by_depth.begin(), by_depth.end(), [&](size_t a, size_t b) { return depth(a) < depth(b); });
    std::unordered_set<std::string_view> reported;
    std::vector<Match> out;
    for (size_t g : by_depth) {
      bool inside = false;
      for_each_numbered_prefix(groups[g].parent, [&](std::string_view p) { inside = inside || reported.count(p); });
      if (inside) continue;
      for (uint32_t b : groups[g].members) {
        reported.insert(blocks[b]);
        Match m;
        m.pattern = name();
        std::vector<NodeId>& nodes = block_nodes[b];
        m.anchor = nodes.back();
        std::sort(nodes.begin(), nodes.end());
        m.roles.emplace_back("block", nodes);
        m.nodes = std::move(nodes);
        m.scope = std::string(blocks[b]);
        out.push_back(std::move(m));
      }
    }
    std::sort(out.begin(), out.end(), [](const Match& a, const Match& b) { return a.anchor < b.anchor; });
    return out;
  }

 private:
  // Per-graph arrays reused by every block: a node's position in its block, an outside
  // value's number (UINT32_MAX: none yet).
  struct Scratch {
    std::vector<uint32_t> local, outside;
    std::vector<ValueId> touched;
  };

  // What the block computes, independent of ids and of its own scope's name, into `sig`:
  // operators, scopes relative to the block, arguments (a tensor as the block node and slot
  // that made it, or as the n-th outside value with its type), and output types.
  static void signature(const GraphIndex& index, std::string_view block, const std::vector<NodeId>& nodes, Scratch& s,
                        Bytes& sig) {
    const Graph& graph = index.graph();
    sig.clear();
    for (uint32_t i = 0; i < nodes.size(); ++i) s.local[nodes[i]] = i;
    auto tensor = [&](ValueId v) {
      if (v == kNoValue) {
        sig.put(uint8_t{0});
        return;
      }
      NodeId p = index.producer(v);
      if (p != kNoNode && s.local[p] != UINT32_MAX) {
        sig.put(uint8_t{1});
        sig.put(s.local[p]);
        sig.put(index.producer_slot(v));
        const Output& out = graph.nodes[p].outputs[index.producer_slot(v)];
        if (out.is_list)
          sig.put(static_cast<uint32_t>(std::find(out.values.begin(), out.values.end(), v) - out.values.begin()));
        return;
      }
      if (s.outside[v] == UINT32_MAX) {
        s.outside[v] = static_cast<uint32_t>(s.touched.size());
        s.touched.push_back(v);
      }
      sig.put(uint8_t{2});
      sig.put(s.outside[v]);
      sig.put_type(graph.values[v].type);
    };
    for (NodeId n : nodes) {
      const Node& node = graph.nodes[n];
      sig.put(index.op_id(n));
      sig.put_text(std::string_view(node.scope).substr(block.size()));
      sig.put_text(node.module_type);
      sig.put(static_cast<uint32_t>(node.inputs.size()));
      for (const Argument& a : node.inputs) {
        sig.put(static_cast<uint8_t>(a.kind()));
        std::visit(
            [&](const auto& v) {
              using T = std::decay_t<decltype(v)>;
              if constexpr (std::is_same_v<T, TensorRef>) {
                tensor(v.value);
              } else if constexpr (std::is_same_v<T, TensorListRef>) {
                sig.put(static_cast<uint32_t>(v.values.size()));
                for (ValueId x : v.values) tensor(x);
              } else if constexpr (std::is_same_v<T, std::monostate>) {
              } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double> || std::is_same_v<T, bool> ||
                                   std::is_same_v<T, DType> || std::is_same_v<T, Layout> ||
                                   std::is_same_v<T, MemoryFormat>) {
                sig.put(v);
              } else if constexpr (std::is_same_v<T, std::string>) {
                sig.put_text(v);
              } else if constexpr (std::is_same_v<T, Device>) {
                sig.put_text(v.name);
              } else if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<double>>) {
                sig.put(static_cast<uint32_t>(v.size()));
                sig.put_raw(v.data(), v.size() * sizeof(v[0]));
              } else if constexpr (std::is_same_v<T, std::vector<bool>>) {
                sig.put(static_cast<uint32_t>(v.size()));
                for (bool x : v) sig.put(x);
              } else {
                sig.put(v.real());
                sig.put(v.imag());
              }
            },
            a.value);
      }
      sig.put(static_cast<uint32_t>(node.outputs.size()));
      for (const Output& out : node.outputs) {
        sig.put(static_cast<uint32_t>(out.values.size()));
        for (ValueId v : out.values) sig.put_type(graph.values[v].type);
      }
    }
    for (NodeId n : nodes) s.local[n] = UINT32_MAX;
    for (ValueId v : s.touched) s.outside[v] = UINT32_MAX;
    s.touched.clear();
  }
};

}  // namespace

std::unique_ptr<PatternPlugin> repeated_block_plugin() {
  return std::make_unique<RepeatedBlock>();
}

}  // namespace genie
