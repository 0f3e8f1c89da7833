# node-gyp / prebuildify entry point. The native build lives in CMakeLists.txt (driven by
# cmake-js); this target only delegates to it, so `node-gyp rebuild` builds the same addon into
# build/Release/specdec.node.
{
  "targets": [
    {
      "target_name": "specdec",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_build",
          "inputs": ["<(module_root_dir)/CMakeLists.txt"],
          "outputs": ["<(module_root_dir)/build/Release/specdec.node"],
          "action": ["node", "<(module_root_dir)/scripts/install.mjs", "--from-source"]
        }
      ]
    }
  ]
}
