// The stage path of `jailx run` (jail/stage/): no Bun process while the jail runs, the helper
// executables sealed, and a failure at any step of the replayed op list leaving nothing behind.
// Checked from the host, through /proc, on real jails.
import { describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { c } from "../../sys/ffi.ts";
import { JAILX, LiveJail, cmdline, descendants, hostMounts, jailx, jailxCgroups, lines, marker, processesWith, waitUntil } from "../helpers/jail.ts";
import { feature as has, testIf } from "../helpers/kernel.ts";

const F_GET_SEALS = 1034;
const ALL_SEALS = 1 | 2 | 4 | 8; // SEAL, SHRINK, GROW, WRITE

/** The seals of the file a process executes (opened from the host through /proc/PID/exe). */
function execSeals(pid: number): number {
  const fd = openSync(`/proc/${pid}/exe`, "r");
  try {
    return c.fcntl(fd, F_GET_SEALS, 0);
  } finally {
    closeSync(fd);
  }
}

/** Processes executing jailx's helper (init, waiter, guard) right now. */
function helperProcesses(): number[] {
  return readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number).filter((p) => {
    try {
      return readlinkSync(`/proc/${p}/exe`) === "/memfd:jailx-helper (deleted)";
    } catch {
      return false;
    }
  });
}

const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).length;
const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, "utf8").trim();

describe("while the jail runs", () => {
  test("jailx's own processes are the sealed helper, single-threaded: the waiter in the supervisor's place, init, and a guard", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--memory", "64m", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      const program = processesWith(mark).find((p) => cmdline(p)?.[0] === "/bin/sh")!;
      // The holder of the supervisor's old memory (a CLONE_VM child that the jail's processes
      // shared it with, named to the waiter as holder=PID) ends once the program has executed,
      // tearing that memory down beside it; the waiter reaps it: no child, no zombie is left.
      const holder = Number(cmdline(jail.pid)!.find((a) => a.startsWith("holder="))?.slice(7));
      expect(holder).toBeGreaterThan(0);
      await waitUntil(() => !existsSync(`/proc/${holder}`), 20_000, "the memory holder to be reaped");
      const own = [jail.pid, ...descendants(jail.pid)].filter((p) => p !== program && !descendants(program).includes(p));
      // the supervisor (now the waiter), the guard of the jail cgroup, init
      expect(own.map(comm).sort()).toEqual(["jailx", "jailx-guard", "jailx-init"]);
      for (const p of own) {
        expect(readlinkSync(`/proc/${p}/exe`)).toBe("/memfd:jailx-helper (deleted)");
        expect(execSeals(p) & ALL_SEALS).toBe(ALL_SEALS);
        expect(threads(p)).toBe(1);
      }
      // control: the program is not the helper
      expect(readlinkSync(`/proc/${program}/exe`)).not.toContain("memfd");
    } finally {
      await jail.dispose();
    }
  });

  test("the program cannot reach the helper: /proc/1/exe is closed, and no descriptor of the jail's processes leads to it", () => {
    const r = jailx(["run", "--", "/bin/sh", "-c", "cat /proc/1/exe >/dev/null 2>&1 && echo READ; echo x 2>/dev/null >/proc/1/exe && echo WROTE; for p in /proc/[0-9]*; do for f in $p/fd/*; do readlink $f; done; done 2>/dev/null | grep -c memfd"]);
    expect(r.stdout).toBe("0\n");
    expect(r.code).toBe(1); // grep -c found nothing
  });

  test("the waiter (the supervisor's pid) is out of the program's reach: not in its pid namespace, no process of it to signal or read", async () => {
    const mark = marker();
    const dir = mkdtempSync(join(tmpdir(), "jailx-handover-"));
    // The program learns the waiter's host pid through a bound file (a bounded poll inside it).
    const script = `: ${mark}; echo ready; i=0; while [ ! -s /x/pid ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; pid=$(cat /x/pid); ` +
      `kill -0 $pid 2>/dev/null && echo SIGNALLED; [ -e /proc/$pid ] && echo SEES; cat /proc/$pid/mem >/dev/null 2>&1 && echo READ; echo "pids $(ls /proc | grep -c '^[0-9]')"`;
    const jail = new LiveJail(["run", "--bind", `${dir}:/x`, "--", "/bin/sh", "-c", script]);
    try {
      await jail.waitForLine(/^ready$/);
      // control: the supervisor's pid is the helper now, alive
      expect(readlinkSync(`/proc/${jail.pid}/exe`)).toBe("/memfd:jailx-helper (deleted)");
      writeFileSync(`${dir}/pid.tmp`, String(jail.pid));
      renameSync(`${dir}/pid.tmp`, `${dir}/pid`);
      const line = await jail.waitForLine(/^pids \d+$/);
      expect(Number(line.split(" ")[1])).toBeLessThan(10); // init, the shell and its helpers
      const out = await jail.exit();
      expect(out.code).toBe(0);
      expect(out.stdout).not.toMatch(/SIGNALLED|SEES|READ/);
    } finally {
      await jail.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a failure at any step leaves nothing behind", () => {
  // Each fails in a different place: PID 1's filesystem (a mount point under a read-only bind),
  // the program's process before the gate (--chdir), the PATH lookup (no such program), after
  // the gate (execve of a file that is no program), and the program's own status.
  const cases: [string, string[], number, RegExp | null][] = [
    ["the filesystem (PID 1)", ["--tmpfs", "/usr/jailx-nowhere", "--", "/bin/true"], 125, /^jailx: set up the namespaces: mkdir \/usr\/jailx-nowhere: EROFS — \/usr\/jailx-nowhere does not exist and lies under a read-only bind/],
    ["the program's process before the gate", ["--chdir", "/nonexistent", "--", "/bin/true"], 125, /^jailx: chdir \/nonexistent: ENOENT/],
    ["the PATH lookup", ["--", "jailx-no-such-program"], 127, /^jailx: jailx-no-such-program: command not found inside the jail/],
    ["execve after the gate", ["--", "/etc/passwd"], 126, /^jailx: \/etc\/passwd: cannot execute: EACCES/],
    ["control: the program's own status", ["--", "/bin/sh", "-c", "exit 3"], 3, null],
  ];
  for (const [where, args, status, message] of cases) {
    test(`${where}: status ${status}${message ? ", one line" : ", no message"}, no process, cgroup or mount left`, () => {
      const mounts = hostMounts();
      const cgroups = jailxCgroups();
      const helpers = helperProcesses();
      const r = jailx(["run", "--memory", "64m", ...args]);
      expect(r.code).toBe(status);
      if (message) {
        expect(lines(r.stderr)).toHaveLength(1);
        expect(r.stderr).toMatch(message);
      } else expect(r.stderr).toBe("");
      expect(helperProcesses().filter((p) => !helpers.includes(p))).toEqual([]);
      expect(jailxCgroups()).toEqual(cgroups);
      expect(hostMounts()).toEqual(mounts);
    });
  }
});

describe("when it ends", () => {
  // A subreaper runs jailx: whatever jailx leaves running (or unreaped) becomes its child.
  const SUBREAPER = [
    "import ctypes, os, subprocess, sys",
    "ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER",
    "r = subprocess.run(sys.argv[1:], cwd='/')",
    "try:",
    "    left = os.waitpid(-1, os.WNOHANG)  # (0, 0): one still runs; (pid, status): a zombie",
    "except ChildProcessError:",
    "    left = None",
    "print(r.returncode, left)",
  ].join("\n");
  for (const args of [["--memory", "64m"], ["--memory", "64m", "--timeout", "1h"], ["--pids", "unlimited"]])
    test(`no process of the run outlives jailx, the guards included (${args.join(" ")})`, () => {
      const r = Bun.spawnSync(["python3", "-c", SUBREAPER, JAILX, "run", ...args, "--", "/bin/true"], { stdout: "pipe", stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      expect(r.stdout.toString()).toBe("0 None\n");
    });
});

describe("where memfds may not be executed", () => {
  const noexec = existsSync("/proc/sys/vm/memfd_noexec");
  // vm.memfd_noexec is per pid namespace (Linux ≥ 6.3): set to 2 in a new one, it cannot leak.
  testIf(has(noexec, "no vm.memfd_noexec on this kernel (before 6.3)"))("vm.memfd_noexec=2: the run takes the Bun path and works (its init is jailx itself)", () => {
    const before = readFileSync("/proc/sys/vm/memfd_noexec", "utf8");
    const r = Bun.spawnSync(["unshare", "-pf", "--mount-proc", "sh", "-c", 'echo 2 > /proc/sys/vm/memfd_noexec && exec "$0" run -- /bin/sh -c "cat /proc/1/comm; echo ok"', JAILX], { cwd: "/", stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect([r.exitCode, r.stdout.toString()]).toEqual([0, "jailx\nok\n"]);
    expect(readFileSync("/proc/sys/vm/memfd_noexec", "utf8")).toBe(before);
    // control: here, the stage path's init
    expect(jailx(["run", "--", "/bin/cat", "/proc/1/comm"]).stdout).toBe("jailx-init\n");
  });
});
