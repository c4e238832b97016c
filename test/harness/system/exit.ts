// Last-resort teardown: a test file that throws, times out or is interrupted must not leave
// registries, daemons or temp dirs behind. Hooks run newest first, so processes die before
// the directories they write into are removed.

type Hook = () => void;

const hooks: Hook[] = [];
let installed = false;

function runHooks(): void {
  for (let hook = hooks.pop(); hook; hook = hooks.pop()) {
    try {
      hook();
    } catch {
      // teardown is best effort: one failing hook must not keep the others from running
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runHooks);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      runHooks();
      // re-raise so the exit status still tells which signal ended the process
      process.kill(process.pid, signal);
    });
  }
}

/** Registers a synchronous hook for process exit; the returned function unregisters it. */
export function atExit(hook: Hook): () => void {
  install();
  hooks.push(hook);
  return () => {
    const i = hooks.lastIndexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}
