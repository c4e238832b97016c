#!/usr/bin/env node
// libuv sizes its thread pool (file reads and writes) on first use and defaults to 4 threads,
// which many concurrent blob readers and spool writers would queue behind: size it before any
// module can touch the pool.
process.env.UV_THREADPOOL_SIZE ??= "16";
await import("./main.js");
