# node-gyp build of native/ (kept at the top so node-gyp's output lands in build/ beside the rest).
{
  "targets": [
    {
      "target_name": "quicsteer",
      "sources": ["native/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "variables": {"libbpf_a%": "<(module_root_dir)/build/libbpf/libbpf.a"},
      "libraries": ["<(libbpf_a)", "-lelf", "-lz"],
      "ldflags": ["-Wl,--exclude-libs,ALL"]
    }
  ]
}
