#include "viz/render.h"

#include <graphviz/gvc.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <set>

#include "support/error.h"

namespace genie {
namespace {

// Graphviz reports through agerr, by default straight to stderr, in pieces ("Error", ": ",
// the text). While a render runs, the pieces are collected here instead, so a failure
// becomes one line in a genie::Error and warnings do not clutter the tool's stderr.
std::string& collected() {
  static std::string text;
  return text;
}
int collect(char* piece) {
  collected() += piece;
  return 0;
}

class GraphvizMessages {
 public:
  GraphvizMessages() : previous_(agseterrf(collect)) {
    collected().clear();
    agreseterrors();
  }
  ~GraphvizMessages() { agseterrf(previous_); }
  GraphvizMessages(const GraphvizMessages&) = delete;
  GraphvizMessages& operator=(const GraphvizMessages&) = delete;

  // The last error Graphviz reported, on one line; or `fallback`.
  static std::string last_error(const std::string& fallback) {
    const std::string& text = collected();
    size_t at = text.rfind("Error: ");
    if (at == std::string::npos) return fallback;
    std::string line = text.substr(at + 7);
    line = line.substr(0, line.find('\n'));
    return line.empty() ? fallback : line;
  }

 private:
  agusererrf previous_;
};

// One Graphviz context for the whole process, made on first use and never freed. Graphviz
// 2.43's pango plugin keeps a pointer to the last font name it measured, a string the
// context owns: freeing a context and making another left the next render reading freed
// memory (found by AddressSanitizer). The context holds the system's plugins (dot layout,
// core renderers, cairo) from Graphviz's config file, and the renderers they offer.
struct Graphviz {
  GVC_t* gvc = nullptr;
  std::set<std::string> devices;
};

Graphviz& graphviz() {
  static Graphviz* instance = [] {
    auto* g = new Graphviz;
    g->gvc = gvContext();
    if (!g->gvc) return g;
    int count = 0;
    char** list = gvPluginList(g->gvc, "device", &count, nullptr);
    for (int i = 0; i < count; ++i) {
      g->devices.insert(list[i]);
      std::free(list[i]);
    }
    std::free(list);
    return g;
  }();
  if (!instance->gvc) fail(ErrorKind::kRuntime, "Graphviz could not start (gvContext failed)");
  return *instance;
}

// Graphviz keeps global state (the context above, agerr's handler): one render at a time.
std::mutex& graphviz_mutex() {
  static std::mutex mutex;
  return mutex;
}

class LaidOut {
 public:
  LaidOut(GVC_t* gvc, Agraph_t* g) : gvc_(gvc), g_(g) {
    if (gvLayout(gvc_, g_, "dot") != 0)
      fail(ErrorKind::kRuntime, "Graphviz layout failed: " + GraphvizMessages::last_error("no reason given"));
  }
  ~LaidOut() { gvFreeLayout(gvc_, g_); }
  LaidOut(const LaidOut&) = delete;
  LaidOut& operator=(const LaidOut&) = delete;

 private:
  GVC_t* gvc_;
  Agraph_t* g_;
};

}  // namespace

std::string_view viz_format_name(VizFormat format) {
  switch (format) {
    case VizFormat::kSvg: return "svg";
    case VizFormat::kPng: return "png";
    case VizFormat::kPdf: return "pdf";
    case VizFormat::kDot: return "dot";
    case VizFormat::kJson: return "json";
  }
  return "svg";
}

std::optional<VizFormat> viz_format_from_name(std::string_view name) {
  for (VizFormat f : {VizFormat::kSvg, VizFormat::kPng, VizFormat::kPdf, VizFormat::kDot, VizFormat::kJson})
    if (name == viz_format_name(f)) return f;
  return std::nullopt;
}

std::optional<VizFormat> viz_format_from_path(std::string_view path) {
  size_t dot = path.rfind('.');
  if (dot == std::string_view::npos || path.find('/', dot) != std::string_view::npos) return std::nullopt;
  std::string ext(path.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (ext == "gv") return VizFormat::kDot;
  return viz_format_from_name(ext);
}

std::string viz_render(const VizView& view, VizFormat format, VizRankDir rankdir) {
  std::lock_guard<std::mutex> lock(graphviz_mutex());
  GraphvizMessages messages;
  DotGraph graph(view, rankdir);
  if (format == VizFormat::kDot) return graph.dot_text();

  Graphviz& context = graphviz();
  const std::string device(viz_format_name(format));
  if (!context.devices.count(device))
    fail(ErrorKind::kUnsupported,
         "--format " + device + ": this machine's Graphviz has no renderer for it" +
             (format == VizFormat::kPng || format == VizFormat::kPdf
                  ? " (PNG and PDF come from its cairo plugin, libgvplugin_pango: install libgvc6 with its plugins)"
                  : ""));
  LaidOut layout(context.gvc, graph.get());
  char* data = nullptr;
  unsigned int length = 0;
  if (gvRenderData(context.gvc, graph.get(), device.c_str(), &data, &length) != 0) {
    gvFreeRenderData(data);
    fail(ErrorKind::kRuntime,
         "Graphviz could not render " + device + ": " + GraphvizMessages::last_error("no reason given"));
  }
  std::string bytes(data ? data : "", length);
  gvFreeRenderData(data);
  // Some errors (a label Graphviz cannot parse) are reported while layout and rendering
  // still succeed, with something else drawn in their place: not a picture to hand out.
  if (agerrors() >= AGERR)
    fail(ErrorKind::kRuntime, "Graphviz reported an error: " + GraphvizMessages::last_error("no reason given"));
  return bytes;
}

}  // namespace genie
