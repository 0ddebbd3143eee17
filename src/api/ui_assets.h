// The web console's files (src/api/ui), compiled into the binary.
#ifndef TETHER_API_UI_ASSETS_H_
#define TETHER_API_UI_ASSETS_H_

#include <string_view>
#include <vector>

namespace tether::api {

struct UiAsset {
  std::string_view path;  // "/ui/app.js"
  std::string_view content_type;
  std::string_view bytes;
};

const std::vector<UiAsset>& UiAssets();

}  // namespace tether::api

#endif  // TETHER_API_UI_ASSETS_H_
