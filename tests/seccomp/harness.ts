// Test harness: runs a program under a seccomp plan built from `jailx run` seccomp options,
// without the rest of the jail (so seccomp can be tested before/independently of `jailx run`).
//
//   BUN_JSC_useConcurrentJIT=0 BUN_JSC_numberOfGCMarkers=1 BUN_JSC_useWarmUpMarkedBlocks=0 \
//   MIMALLOC_PURGE_DELAY=-1 ./node_modules/.bin/bun tests/seccomp/harness.ts [--seccomp …] -- PROG ARGS
//
// JAILX_TEST_CAPS=cap1,cap2 sets the kept capabilities the plan adapts to (default: Docker's).
// JAILX_TEST_FILTER=FILE installs that raw filter instead (e.g. a libseccomp-built one).
// Exit 125 with a message when setup fails; otherwise the program replaces this process.
import { readFileSync, readdirSync } from "node:fs";
import { parseRunArgs } from "../../jail/options.ts";
import { c, check, cstr, cstrArray, ptr } from "../../sys/ffi.ts";
import { compileSeccompPlan, installSeccompFilter, seccompPlanFromOptions } from "../../sys/seccomp/index.ts";

export const DOCKER_DEFAULT_CAPS = ["chown", "dac_override", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap", "net_bind_service", "net_raw", "sys_chroot", "mknod", "audit_write", "setfcap"];
const PR_SET_NO_NEW_PRIVS = 38;

try {
  const { options, command } = parseRunArgs(process.argv.slice(2));
  if (command.length === 0) throw new Error("usage: harness.ts [seccomp options] -- PROG [ARGS]");
  const caps = process.env.JAILX_TEST_CAPS?.split(",").filter(Boolean) ?? DOCKER_DEFAULT_CAPS;
  const plan = seccompPlanFromOptions(options, caps);
  const prog = command[0]!.includes("/") ? command[0]! : Bun.which(command[0]!);
  if (!prog) throw new Error(`${command[0]}: not found`);
  const raw = process.env.JAILX_TEST_FILTER;
  const filter = raw ? readFileSync(raw) : plan ? compileSeccompPlan(plan) : null;
  const env = Object.entries(process.env)
    .filter(([k]) => !k.startsWith("BUN_") && !k.startsWith("MIMALLOC_") && !k.startsWith("JAILX_TEST_"))
    .map(([k, v]) => `${k}=${v}`);
  const argv = cstrArray(command);
  const envp = cstrArray(env);
  const path = cstr(prog);
  // A filter applies to the calling thread only: other threads would escape it.
  const tasks = readdirSync("/proc/self/task").length;
  if (tasks !== 1) throw new Error(`${tasks} threads: run the harness with the single-thread Bun environment`);
  check(c.prctl(PR_SET_NO_NEW_PRIVS, 1n, 0n, 0n, 0n), "prctl", { flags: "PR_SET_NO_NEW_PRIVS" });
  if (filter) installSeccompFilter(filter, { log: plan?.log === true });
  c.execve(ptr(path), ptr(argv.array), ptr(envp.array));
  check(-1, "execve", { path: prog });
} catch (e) {
  process.stderr.write(`harness: ${(e as Error).message}\n`);
  process.exitCode = 125;
}
