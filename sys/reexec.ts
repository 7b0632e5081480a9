// Bun runs helper threads (JIT, GC markers, allocator scavenger). unshare(CLONE_NEWUSER) and
// setns() fail in a multi-threaded process, and forking one is unsafe. These settings make the VM
// single-threaded, but they are read at VM start, so `jailx run` re-executes itself with them
// set. This module does that as a side effect of being imported first by the entry point, before
// any other module of the run path is evaluated.
import { dlopen, ptr } from "bun:ffi";

export const SINGLE_THREAD_ENV: Readonly<Record<string, string>> = {
  BUN_JSC_useConcurrentJIT: "0",
  BUN_JSC_numberOfGCMarkers: "1",
  BUN_JSC_useWarmUpMarkedBlocks: "0",
  MIMALLOC_PURGE_DELAY: "-1",
  // Not about threads: the launcher's JavaScript runs once, so compiling it costs more than it
  // saves; with concurrent JIT off that compile would block. The interpreter alone starts a jail
  // ~6 ms (18%) faster (scripts/bench-startup.ts). FFI trampolines are unaffected.
  BUN_JSC_useBaselineJIT: "0",
  BUN_JSC_useDFGJIT: "0",
};

export function isSingleThreadedBun(env: NodeJS.ProcessEnv = process.env): boolean {
  return Object.entries(SINGLE_THREAD_ENV).every(([k, v]) => env[k] === v);
}

/** True when this process is the compiled binary (argv[1] lives in Bun's embedded filesystem). */
export function isCompiled(): boolean {
  return (process.argv[1] ?? "").startsWith("/$bunfs/");
}

/** The values of --pass-fd N / --pass-fd=N before `--`. */
export function passFdArgs(args: readonly string[]): number[] {
  const fds: number[] = [];
  for (let i = 0; i < args.length && args[i] !== "--"; i++) {
    const a = args[i]!;
    const v = a === "--pass-fd" ? args[++i] : a.startsWith("--pass-fd=") ? a.slice(10) : undefined;
    if (v !== undefined && /^\d+$/.test(v)) fds.push(Number(v));
  }
  return fds;
}

/**
 * Execute this program again with the same arguments, single-threaded. `jailx run` does this only
 * for the features that still need a Bun supervisor (named and detached jails, --forking); it
 * does not return (a failed execve ends the process with 125).
 */
export function reexecSingleThreaded(): void {
  const env = { ...process.env, ...SINGLE_THREAD_ENV };
  const args = isCompiled()
    ? [process.execPath, ...process.argv.slice(2)]
    : [process.execPath, process.argv[1]!, ...process.argv.slice(2)];
  if (process.argv[2] !== "run" && process.argv[2] !== "learn") {
    // inspect: no descriptors to keep, so Bun's own execve (no FFI trampolines to compile). It is
    // only faster that way: if execve fails, carry on in this process.
    try {
      process.execve!(process.execPath, args, env);
    } catch {}
    return;
  }
  const z = (s: string) => Buffer.from(s + "\0");
  const strs = (list: string[]) => {
    const keep = list.map(z);
    const arr = new BigInt64Array(list.length + 1);
    keep.forEach((b, i) => (arr[i] = BigInt(ptr(b))));
    return { arr, keep };
  };
  const a = strs(args);
  const e = strs(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  const { symbols } = dlopen("libc.so.6", {
    execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
    fcntl: { args: ["i32", "i32", "i64"], returns: "i32" },
  });
  // Bun marks inherited descriptors ≥ 4 close-on-exec at start-up: keep the ones the user asked
  // to pass into the jail (--pass-fd N) open across this execve.
  for (const fd of passFdArgs(process.argv.slice(3))) symbols.fcntl(fd, 2 /* F_SETFD */, 0);
  const path = z(process.execPath);
  symbols.execve(ptr(path), ptr(a.arr), ptr(e.arr));
  process.stderr.write(`jailx: cannot re-execute ${process.execPath} single-threaded (execve failed)\n`);
  process.exit(125);
}

/**
 * `jailx learn` does, for its Bun supervisor. `jailx run` and `jailx exec` do not: they fork
 * through the embedded stage (jail/stage/), which runs no JavaScript in the child (where setns
 * into a user namespace is made, single-threaded), and re-execute only for what needs Bun.
 * `inspect --all` does: its JavaScript runs a few hundred times per process list, too few for the
 * JIT tiers to pay back their compile time on helper threads. Interpreted and single-threaded it
 * used ~35% less CPU on a 600-process host (docs/BENCHMARKS.md), the re-execution included.
 */
function wantsSingleThreaded(argv: readonly string[]): boolean {
  return argv[2] === "learn" || (argv[2] === "inspect" && argv.includes("--all"));
}

if (wantsSingleThreaded(process.argv) && !isSingleThreadedBun()) reexecSingleThreaded();
