{
  "targets": [
    {
      "target_name": "socklab_udp",
      "sources": ["udp_batch.c", "unix_dgram.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "socklab_tun",
      "sources": ["tun.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
