#include "patterns/plugin.h"

#include <mutex>

#include "patterns/graph_index.h"
#include "support/error.h"

namespace genie {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::unique_ptr<PatternPlugin>> plugins;
};

void add_locked(Registry& registry, std::unique_ptr<PatternPlugin> plugin) {
  const std::string name = plugin->name();
  if (!pattern_name_valid(name))
    fail(ErrorKind::kUsage, "plugin name \"" + name + "\" is not a valid pattern name ([a-z][a-z0-9_]*)");
  for (const auto& p : registry.plugins)
    if (p->name() == name) fail(ErrorKind::kUsage, "a pattern plugin named \"" + name + "\" is already registered");
  registry.plugins.push_back(std::move(plugin));
}

// Built-ins are added on first use, not by static initialisers (which a static library's
// linker may drop).
Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;  // never destroyed: plugins may be used until exit
    add_locked(*reg, repeated_block_plugin());
    return reg;
  }();
  return *r;
}

class PluginPattern : public Pattern {
 public:
  explicit PluginPattern(const PatternPlugin& plugin)
      : Pattern(plugin.name(), plugin.description(), "<plugin>"), plugin_(plugin) {}
  std::vector<Match> match(const GraphIndex& index) const override { return plugin_.match_indexed(index); }

 private:
  const PatternPlugin& plugin_;
};

}  // namespace

bool pattern_name_valid(const std::string& name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

void pattern_plugin_register(std::unique_ptr<PatternPlugin> plugin) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  add_locked(r, std::move(plugin));
}

std::vector<const PatternPlugin*> pattern_plugins() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<const PatternPlugin*> out;
  for (const auto& p : r.plugins) out.push_back(p.get());
  return out;
}

std::unique_ptr<Pattern> pattern_from_plugin(const PatternPlugin& plugin) {
  return std::make_unique<PluginPattern>(plugin);
}

}  // namespace genie
