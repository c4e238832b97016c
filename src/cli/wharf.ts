#!/usr/bin/env node
// libuv sizes its thread pool (file reads and writes) on first use and defaults to 4 threads,
// which many concurrent blob readers and spool writers would queue behind: size it before any
// module can touch the pool.
process.env.UV_THREADPOOL_SIZE ??= "16";
// The AWS SDK warns on Node 20 about releases it has not made yet; wharf pins one that supports
// Node 20, so the warning would only tell an operator to act on something that is wharf's to decide.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
await import("./main.js");
