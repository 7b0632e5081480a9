// Seccomp is the last thing before execve: once the filter is installed, jailx makes no system
// call but execve (and exit_group after a failed one). Checked with allow-lists whose default
// kills: a program that needs almost nothing starts every time, a failed execve after the
// filter is still reported with its message and 126/127, and strace shows the jail side's
// calls between the filter and execve.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { JAILX, jailx } from "../helpers/jail.ts";

const dir = mkdtempSync("/tmp/jailx-seccomp-last-");
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A static program that writes one line: glibc's static start-up needs a few calls beyond
// @default (readlink of /proc/self/exe on x86_64, readlinkat elsewhere).
const C = `#include <unistd.h>\n#include <sys/syscall.h>\nint main(void){ syscall(SYS_write, 1, "ok\\n", 3); syscall(SYS_exit_group, 0); }\n`;
const PROBE = "jailx-seccomp-last-probe";
writeFileSync(`${dir}/w.c`, C);
const cc = Bun.which("gcc") ? Bun.spawnSync(["gcc", "-static", "-O2", "-o", `${dir}/${PROBE}`, `${dir}/w.c`], { stderr: "pipe" }) : null;
const HAVE_STATIC = cc?.exitCode === 0;
if (!HAVE_STATIC) console.warn(`SKIP tests/run/seccomp-last.test.ts (static program): ${cc ? `gcc -static failed: ${cc.stderr.toString().trim().split("\n")[0]}` : "no gcc"}`);
const HAVE_STRACE = Bun.which("strace") !== null;
if (!HAVE_STRACE) console.warn("SKIP tests/run/seccomp-last.test.ts (strace): strace is not installed");

const ALLOW = ["write", process.arch === "x64" ? "readlink" : "readlinkat"];
const KILL = ["--ro-bind", dir, "--seccomp-default-action", "kill", ...ALLOW.flatMap((s) => ["--seccomp-allow", s])];
// What made jailx work after its filter before: an execve per PATH directory, each building
// its C strings (half a megabyte of environment here) — the allocator then read
// /proc/self/statm, madvised, … and a killing allow-list killed jailx before the program ran.
const SEARCH = ["--setenv", `PATH=${Array.from({ length: 60 }, (_, i) => `/nonexistent${i}`).join(":")}:${dir}`];
const BIG = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`JAILX_TEST_BIG${i}`, "x".repeat(100_000)]));

describe("after the seccomp filter, jailx itself makes no call an allow-list could refuse", () => {
  test.skipIf(!HAVE_STATIC)("a program needing only write starts under a killing allow-list, 20 times of 20 (PATH search, a big environment, with and without --as-pid-1)", () => {
    const results: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = jailx(["run", ...KILL, ...SEARCH, ...(i % 2 ? ["--as-pid-1"] : []), "--", PROBE], { env: BIG });
      results.push(`${r.code}:${r.stdout.trim()}${r.stderr ? `:${r.stderr.trim()}` : ""}`);
    }
    expect(results.filter((r) => r !== "0:ok")).toEqual([]);
    // Control: the same allow-list without write kills the program (the filter is really on).
    const killed = jailx(["run", "--ro-bind", dir, "--seccomp-default-action", "kill", "--seccomp-allow", ALLOW[1]!, "--", `${dir}/${PROBE}`]);
    expect(killed.code).toBe(128 + 31);
  });

  test("a failed execve after a killing filter is still reported (interpreter missing: 127; not executable: 126)", () => {
    writeFileSync(`${dir}/noint.sh`, "#!/nonexistent/interpreter\n", { mode: 0o755 });
    writeFileSync(`${dir}/garbage`, "\x01\x02\x03\x04 not a program\n", { mode: 0o755 });
    for (const pid1 of [[], ["--as-pid-1"]]) {
      const a = jailx(["run", ...KILL, ...pid1, "--", `${dir}/noint.sh`]);
      expect([a.code, a.stderr.trim()]).toEqual([127, `jailx: ${dir}/noint.sh: its interpreter (dynamic loader or #! program) is missing inside the jail; bind it (e.g. --ro-bind /lib64)`]);
      const b = jailx(["run", ...KILL, ...pid1, "--", `${dir}/garbage`]);
      expect([b.code, b.stderr.trim()]).toEqual([126, `jailx: ${dir}/garbage: cannot execute: ENOEXEC (not an executable format)`]);
      // Not found anywhere: said before the filter is installed.
      const c = jailx(["run", ...KILL, ...pid1, "--", "no-such-program-here"]);
      expect(c.code).toBe(127);
      expect(c.stderr).toContain("no-such-program-here: command not found inside the jail");
    }
  });

  test.skipIf(!HAVE_STATIC || !HAVE_STRACE)("strace: between seccomp() and execve the program's process makes no other call (PATH search included)", () => {
    const out = `${dir}/trace`;
    const run = Bun.spawnSync(["strace", "-f", "-o", out, JAILX, "run", ...KILL, ...SEARCH, "--", PROBE], { cwd: "/", env: { ...process.env, ...BIG }, stdout: "pipe", stderr: "pipe" });
    expect(run.stdout.toString()).toBe("ok\n");
    const trace = readFileSync(out, "utf8").split("\n");
    const at = trace.findIndex((l) => /seccomp\(SECCOMP_SET_MODE_FILTER/.test(l));
    expect(at).toBeGreaterThan(-1);
    const pid = trace[at]!.split(/\s+/)[0];
    const after: string[] = [];
    for (const l of trace.slice(at + 1)) {
      if (!l.startsWith(`${pid} `)) continue;
      // the filter's own call, split by strace when another process interrupted it
      if (/^\d+\s+<\.\.\. seccomp resumed>/.test(l)) continue;
      const call = /^\d+\s+(?:<\.\.\. )?(\w+)/.exec(l)?.[1] ?? l;
      after.push(call);
      // strace splits a call another process interrupts: "execve(… <unfinished ...>", then
      // "<... execve resumed>) = 0".
      if (/^\d+\s+(?:execve\(|<\.\.\. execve resumed>).*= 0$/.test(l)) break;
    }
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((c) => c !== "execve")).toEqual([]);
  });
});
