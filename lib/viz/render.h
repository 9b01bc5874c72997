// Laying out and drawing a VizView with Graphviz as a library (libgvc's dot layout and its
// renderers; no `dot` process): SVG, PNG and PDF pictures, the DOT text, and Graphviz's
// JSON with the layout's coordinates.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "viz/dot_graph.h"
#include "viz/view.h"

namespace genie {

enum class VizFormat : uint8_t { kSvg, kPng, kPdf, kDot, kJson };

std::string_view viz_format_name(VizFormat format);
std::optional<VizFormat> viz_format_from_name(std::string_view name);
// By the file name's extension (.svg .png .pdf .dot .gv .json); nullopt for anything else.
std::optional<VizFormat> viz_format_from_path(std::string_view path);

// The file's bytes. DOT is written before layout (no coordinates, so it costs nothing and
// `dot` can lay it out later); the other formats are laid out with dot first. Throws
// Error(kUnsupported) when this machine's Graphviz has no renderer for the format (PNG and
// PDF need its cairo plugin), Error(kRuntime) when Graphviz fails, with its message.
// Renders run one at a time (Graphviz keeps global state); its context lives to the end of
// the process (render.cc says why).
std::string viz_render(const VizView& view, VizFormat format, VizRankDir rankdir = VizRankDir::kTopBottom);

}  // namespace genie
