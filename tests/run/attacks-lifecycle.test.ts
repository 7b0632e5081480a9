// Attacks on the jail's lifecycle and on jailx's own init: outliving a SIGKILLed supervisor
// (also while the jail is being set up), and signals, /proc entries and descriptors of PID 1.
import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { SETUP_STEPS, killBeforeInitRuns, killDuringSetup, outliveSupervisor, useProbes } from "../helpers/attack.ts";
import { LiveJail, descendants, sh } from "../helpers/jail.ts";
import { feature, landlockScope, program, testIf } from "../helpers/kernel.ts";

const probes = useProbes();

describe("outliving the supervisor (kill -9) with a cleared parent-death signal", () => {
  test("double fork + setsid + SIGHUP ignored: nothing survives (jailx's init ends the pid namespace)", async () => {
    await outliveSupervisor(probes.dir, [], []);
  });

  test("--as-pid-1: the program itself clears PDEATHSIG; a guard still ends the jail", async () => {
    await outliveSupervisor(probes.dir, ["--as-pid-1"], ["self"]);
  });

  test("--as-pid-1 with a double fork: nothing survives", async () => {
    await outliveSupervisor(probes.dir, ["--as-pid-1"], []);
  });
});

describe("the supervisor SIGKILLed while the jail is being set up", () => {
  for (const step of SETUP_STEPS) {
    test(`at '${step}': nothing survives`, async () => {
      await killDuringSetup(step, []);
    });
    test(`at '${step}' with --as-pid-1: nothing survives`, async () => {
      await killDuringSetup(step, ["--as-pid-1"]);
    });
  }
});

describe("the supervisor SIGKILLed after 'go', before the jail's init has run (the order forced with ptrace)", () => {
  // The init's guard against a supervisor that died before its parent-death signal was set is
  // the supervisor's end of their socket closing. On cgroup v1 the placer (started after the
  // init, with a copy of that end until its first op) kept it open: the init read the buffered
  // "go" and waited for streamed ops for ever, and the cleanup guard, acting before the placer
  // moved the init into the cgroup, could not remove the cgroup (seen in CI under load).
  const ptraceScope = (() => {
    try {
      return Number(readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8"));
    } catch {
      return 0;
    }
  })();
  const traceable = feature(ptraceScope < 3 && program("python3").ok, "ptrace is disabled (kernel.yama.ptrace_scope = 3) or python3 is missing");
  for (const order of ["guard-first", "placer-first"] as const) {
    for (const flags of [[], ["--as-pid-1"]]) {
      testIf(traceable)(`${order}${flags.length ? ` ${flags.join(" ")}` : ""}: the init ends by itself; no process and no cgroup is left`, async () => {
        const got = await killBeforeInitRuns("jail: set up the namespaces", order, flags);
        // With a placer (a root jail on cgroup v1) the init got past "go" and waited for ops;
        // without one its first check already saw the supervisor gone.
        expect(got.initState).toBe(got.held.length > 1 ? "futex" : "ended");
      }, 150_000);
    }
  }
});

describe("jailx's init (PID 1 in the jail), attacked by the program", () => {
  test("every signal 1-64 sent to PID 1 leaves it running; the program's own status comes back", () => {
    // Bun's crash-report handlers (SEGV, BUS, ILL, FPE, TRAP, ABRT) used to turn `kill -BUS 1`
    // into an abort of init; the forwarded signals come back to the shell, which ignores them.
    // With --no-landlock the signals do reach init (by default Landlock's signal scope refuses
    // them before they get there, tested below).
    const r = sh("trap '' HUP INT QUIT TERM USR1 USR2 WINCH; for s in $(seq 1 64); do kill -$s 1 2>/dev/null; done; kill -0 1 && echo init-alive; exit 7", ["--no-landlock"]);
    expect(r.stdout).toBe("init-alive\n");
    expect(r.stderr).not.toMatch(/panic|crash|killed by signal/);
    expect(r.code).toBe(7);
  });

  testIf(landlockScope())("by default the program cannot signal init at all (Landlock signal scope)", () => {
    const r = sh("kill -0 1 2>/dev/null && echo reached || echo refused; kill -BUS 1 2>/dev/null || echo refused; exit 7");
    expect([r.stdout, r.code]).toEqual(["refused\nrefused\n", 7]);
  });

  test("its /proc entries are closed to the program (non-dumpable): exe, cwd, root, mem, environ, maps, fds", () => {
    const r = sh("for f in exe cwd root fd/0 fd/5; do readlink /proc/1/$f >/dev/null 2>&1 && echo LINK:$f; done; for f in mem environ maps auxv syscall stack; do cat /proc/1/$f >/dev/null 2>&1 && echo READ:$f; done; echo x 2>/dev/null >/proc/1/mem && echo WROTE:mem; ls /proc/1/fd >/dev/null && echo listed");
    expect(r.stdout).toBe("listed\n");
  });

  test("with --user and fs.suid_dumpable=1, init is still closed to the program (the id change resets dumpable)", () => {
    // A host setting, changed for the length of one run and restored even on failure.
    const SYSCTL = "/proc/sys/fs/suid_dumpable";
    const before = readFileSync(SYSCTL, "utf8").trim();
    let r: ReturnType<typeof sh>;
    try {
      writeFileSync(SYSCTL, "1\n");
      r = sh("readlink /proc/1/exe >/dev/null 2>&1 && echo LINK:exe; cat /proc/1/environ >/dev/null 2>&1 && echo READ:environ; grep -q '^Uid:.*1000' /proc/1/status && echo init-is-1000", ["--user", "1000"]);
    } finally {
      writeFileSync(SYSCTL, `${before}\n`);
    }
    expect(r.stdout).toBe("init-is-1000\n");
  });

  test("seen from the host, init holds only stdio, its message socket and its signalfd", async () => {
    const mark = `init-fds-${process.pid}`;
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      const status = (p: number) => {
        try {
          return readFileSync(`/proc/${p}/status`, "utf8");
        } catch {
          return ""; // gone meanwhile
        }
      };
      const init = descendants(jail.pid).find((p) => /^NSpid:\s+\d+\s+1$/m.test(status(p)));
      expect(init).toBeDefined();
      const fds = readdirSync(`/proc/${init}/fd`).map((fd) => [Number(fd), readlinkSync(`/proc/${init}/fd/${fd}`)] as const);
      const stdio = new Set([0, 1, 2].map((fd) => readlinkSync(`/proc/${jail.pid}/fd/${fd}`)));
      const other = fds.filter(([fd]) => fd > 2).map(([, l]) => l.replace(/\d+/g, "N"));
      expect(other.sort()).toEqual(["anon_inode:[signalfd]", "socket:[N]"]);
      for (const [fd, l] of fds) if (fd <= 2) expect(stdio.has(l)).toBe(true);
    } finally {
      await jail.dispose();
    }
  });
});
