// JSON resources compiled into the binary (generated from resources/ at configure time), so that
// attnbench runs from any directory without installing data files.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

namespace attnbench::resources {

std::string_view modelPresetsJson();
// (name, JSON text) of each sweep preset in resources/sweeps, sorted by name.
const std::vector<std::pair<std::string_view, std::string_view>>& sweepPresetsJson();

}  // namespace attnbench::resources
