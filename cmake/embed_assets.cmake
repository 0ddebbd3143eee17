# Writes OUTPUT, a C++ source defining tether::api::kUiAssets: every file
# in ASSETS (paths relative to BASE) as bytes, with its URL path and media
# type. Run at build time by add_custom_command; the console is then part
# of the binary and needs nothing beyond the tether server.
set(body "")
set(table "")
set(i 0)
string(REPLACE "|" ";" ASSETS "${ASSETS}")
foreach(rel IN LISTS ASSETS)
  file(READ "${BASE}/${rel}" hex HEX)
  string(LENGTH "${hex}" hex_len)
  math(EXPR size "${hex_len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
  if(rel MATCHES "\\.html$")
    set(type "text/html; charset=utf-8")
  elseif(rel MATCHES "\\.js$")
    set(type "text/javascript; charset=utf-8")
  elseif(rel MATCHES "\\.css$")
    set(type "text/css; charset=utf-8")
  elseif(rel MATCHES "\\.svg$")
    set(type "image/svg+xml")
  elseif(rel MATCHES "\\.png$")
    set(type "image/png")
  else()
    set(type "application/octet-stream")
  endif()
  string(APPEND body "const unsigned char kAsset${i}[] = {\n${bytes}0};\n")
  string(APPEND table "    {\"/ui/${rel}\", \"${type}\", {reinterpret_cast<const char*>(kAsset${i}), ${size}}},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from src/api/ui by cmake/embed_assets.cmake. Do not edit.
#include \"api/ui_assets.h\"

namespace tether::api {
namespace {
${body}}  // namespace

const std::vector<UiAsset>& UiAssets() {
  static const std::vector<UiAsset> kAssets = {
${table}  };
  return kAssets;
}

}  // namespace tether::api
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
