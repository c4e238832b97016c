{
  "targets": [
    {
      "target_name": "wharf_sendfile",
      "sources": ["native/sendfile.cc"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", { "sources!": ["native/sendfile.cc"] }]]
    }
  ]
}
