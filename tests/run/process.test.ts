// The jail's processes: signals sent to the supervisor reach the program, orphans are reaped,
// exit statuses map as documented, --new-session, --as-pid-1.
import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { JAILX, LiveJail, descendants, jailx, lines, marker, programPid, sh, status, waitUntil } from "../helpers/jail.ts";

const FORWARDED = ["TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "WINCH"] as const;

/** A program that reports each forwarded signal it receives, and exits on "TERM" after the others. */
function signalScript(mark: string): string {
  const traps = FORWARDED.map((s) => `trap 'echo got-${s}' ${s}`).join("; ");
  // A short foreground sleep: dash runs a trap as soon as the current command ends.
  return `: ${mark}; ${traps}; echo ready; while :; do sleep 0.1; done`;
}

/** Start a jailed shell loop, SIGKILL the program from the host, return jailx's status. */
async function statusAfterHostSigkill(flags: string[]): Promise<number> {
  const mark = marker();
  const jail = new LiveJail(["run", ...flags, "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
  try {
    await jail.waitForLine(/^ready$/);
    process.kill(programPid(jail.pid, mark), "SIGKILL");
    return (await jail.exit()).code;
  } finally {
    await jail.dispose();
  }
}

describe("signals", () => {
  for (const asPid1 of [false, true]) {
    test(`each forwarded signal sent to the supervisor reaches the program${asPid1 ? " (--as-pid-1)" : ""}`, async () => {
      const mark = marker();
      const jail = new LiveJail(["run", ...(asPid1 ? ["--as-pid-1"] : []), "--", "/bin/sh", "-c", signalScript(mark)]);
      try {
        await jail.waitForLine(/^ready$/);
        for (const sig of FORWARDED) {
          jail.kill(`SIG${sig}`);
          await jail.waitForLine(new RegExp(`^got-${sig}$`));
        }
      } finally {
        await jail.dispose();
      }
    });
  }

  test("a program without a handler dies of the forwarded signal: status 128+n", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; echo ready; exec sleep 1000`]);
    try {
      await jail.waitForLine(/^ready$/);
      // Wait until the exec has happened, so the signal reaches sleep (no handler) and not sh.
      await waitForExec(jail.pid, "sleep");
      jail.kill("SIGTERM");
      const r = await jail.exit();
      expect(r.code).toBe(128 + 15);
    } finally {
      await jail.dispose();
    }
  });

  test("SIGKILL to the program from the host: 137", async () => {
    expect(await statusAfterHostSigkill([])).toBe(137);
  });
});

/** Bounded wait until a descendant of `supervisor` has executed `comm`. */
async function waitForExec(supervisor: number, comm: string): Promise<number> {
  let found = 0;
  await waitUntil(() => {
    for (const p of descendants(supervisor)) {
      try {
        if (readFileSync(`/proc/${p}/comm`, "utf8").trim() === comm) found = p;
      } catch {
        /* gone */
      }
    }
    return found !== 0;
  }, 20_000, `${comm} to start`);
  return found;
}

describe("orphans", () => {
  test("a double-forked child that exits is reaped by the jail's init (no zombie)", () => {
    // The subshell starts `true` in the background and exits: `true` is reparented to PID 1.
    // A zombie keeps its /proc entry, so the entry vanishes only once init has reaped it.
    const script = [
      "( true & echo $! > /tmp/gc )",
      "gc=$(cat /tmp/gc)",
      "i=0; while [ -e /proc/$gc ] && [ $i -lt 1000 ]; do i=$((i+1)); sleep 0.01; done",
      '[ -e /proc/$gc ] && echo "left: $(cat /proc/$gc/stat)" || echo reaped',
      "ps -e -o stat= | grep -c '^Z' || true",
    ].join("; ");
    const r = sh(script);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(["reaped", "0"]);
  });

  test("the program's status is reported even when orphans still run", () => {
    const r = sh("( sleep 1000 & ) ; exit 7");
    expect(r.code).toBe(7);
  });
});

describe("exit status", () => {
  test.each([0, 1, 42, 255])("the program's code %d, nothing on stderr", (code) => {
    const r = sh(`exit ${code}`);
    expect(r.code).toBe(code);
    expect(r.stderr).toBe("");
  });

  test.each([["TERM", 15], ["KILL", 9], ["SEGV", 11], ["ABRT", 6]] as const)("killed by SIG%s: 128+%d", (sig, n) => {
    const r = sh(`kill -${sig} $$`);
    expect(r.code).toBe(128 + n);
    expect(lines(r.stderr).length).toBeLessThanOrEqual(1);
  });

  test("126 with one line when the program is not executable", () => {
    const r = jailx(["run", "--", "/etc/passwd"]);
    expect(r.code).toBe(126);
    expect(lines(r.stderr).length).toBe(1);
    expect(r.stderr).toContain("/etc/passwd");
  });

  test("126 for a directory", () => {
    const r = jailx(["run", "--", "/usr"]);
    expect(r.code).toBe(126);
    expect(lines(r.stderr).length).toBe(1);
  });

  test("127 with one line when the program is not found, by path or by name", () => {
    for (const prog of ["/no/such/prog", "no-such-prog-jx"]) {
      const r = jailx(["run", "--", prog]);
      expect(r.code).toBe(127);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain(prog);
    }
  });

  test("127 for a host program outside the jail's binds", () => {
    const r = jailx(["run", "--", "/work/main/dist/jailx", "--version"]);
    expect(r.code).toBe(127);
    expect(lines(r.stderr)).toHaveLength(1);
  });

  test("125 with one line for jailx's own errors", () => {
    const r = jailx(["run", "--no-such-flag", "--", "true"]);
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stdout).toBe("");
  });

  test("a failure while setting up the jail comes back as one line naming the syscall, errno and path: 125", () => {
    const r = jailx(["run", "--chdir", "/no/such/dir", "--", "/bin/true"]);
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain("chdir");
    expect(r.stderr).toContain("ENOENT");
    expect(r.stderr).toContain("/no/such/dir");
  });

  test("--as-pid-1 passes the program's status through", async () => {
    expect(sh("exit 42", ["--as-pid-1"]).code).toBe(42);
    // PID 1 cannot SIGKILL itself from inside; from the host it can be killed.
    expect(await statusAfterHostSigkill(["--as-pid-1"])).toBe(137);
  });
});

describe("the supervisor", () => {
  test("runs single-threaded while the jail runs (seen from the host)", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      expect(readdirSync(`/proc/${jail.pid}/task`)).toHaveLength(1);
      // Its only child is the jail's init (PID 1 inside), whose only child is the program.
      const init = Number(status(programPid(jail.pid, mark), "PPid"));
      expect(status(init, "PPid")).toBe(String(jail.pid));
      expect(status(init, "NSpid").split(/\s+/).at(-1)).toBe("1");
    } finally {
      await jail.dispose();
    }
  });
});

describe("sessions", () => {
  const sidOf = (pid: number) => Number((Bun.spawnSync(["ps", "-o", "sid=", "-p", String(pid)]).stdout.toString().trim()));

  test("without a terminal the program gets its own session by default; --no-new-session keeps the supervisor's", async () => {
    const results: Record<string, boolean> = {};
    for (const flags of [["--no-new-session"], [], ["--new-session"]]) {
      const mark = marker();
      const jail = new LiveJail(["run", ...flags, "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
      try {
        await jail.waitForLine(/^ready$/);
        const pid = programPid(jail.pid, mark);
        results[flags.join("") || "default"] = sidOf(pid) === sidOf(jail.pid);
        // The session id as seen inside: in its own session the program leads it (sid = its pid 2).
        expect(status(pid, "NSsid").split(/\s+/).at(-1)).toBe(flags[0] === "--no-new-session" ? "0" : "2");
      } finally {
        await jail.dispose();
      }
    }
    expect(results).toEqual({ "--no-new-session": true, default: false, "--new-session": false });
  });
});

describe("a terminal", () => {
  // Ctrl-C on a terminal signals the whole foreground process group, jailx's supervisor and
  // init included; they pass on only signals sent to them (si_code SI_USER), not the terminal's
  // (SI_KERNEL), which reached the program directly. (A duplicate would usually merge with the
  // first while pending, so "exactly once" cannot be observed reliably; the count is a bound.)
  test("job control on a terminal (a shell's foreground job): a resize reaches the program, Ctrl-Z stops jailx with it, fg goes on", () => {
    const r = Bun.spawnSync(["python3", `${import.meta.dir}/tty-job.py`, JAILX, "run", "--"], { stdout: "pipe", stderr: "pipe", timeout: 60_000, cwd: "/" });
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString()).toBe("ready\nresized\nstopped\nstopped-not-ended\ncontinued\nexit=5\n");
  });

  test("Ctrl-C on a terminal reaches the program, which keeps its terminal and its exit status", () => {
    const r = Bun.spawnSync(["python3", `${import.meta.dir}/tty-driver.py`, JAILX], { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString().trim()).toBe("exit=3 ints=1");
  });
});

describe("CPU affinity", () => {
  // While the jail is built its init is kept off the supervisor's CPU (sys/cpus.ts); what it and
  // the program run with afterwards is what they would have had: the caller's CPUs, all of them.
  const cpus = (text: string) => lines(text).map((l) => l.split(":")[1]!.trim());
  const own = status("self", "Cpus_allowed_list");
  for (const flags of [[], ["--as-pid-1"]]) {
    test(`the program and jailx's init run on the caller's CPUs${flags.length ? " (--as-pid-1)" : ""}`, () => {
      const read = "grep Cpus_allowed_list /proc/self/status /proc/1/status | sed 's/^[^:]*://'";
      const r = sh(read, ["--pids", "unlimited", ...flags]);
      expect(r.code).toBe(0);
      expect(cpus(r.stdout)).toEqual([own, own]);
      // a caller held to one CPU keeps its program there (nothing is spread then)
      const held = sh(read, flags, { wrap: ["taskset", "-c", own.split(/[-,]/)[0]!] });
      expect(held.code).toBe(0);
      expect(cpus(held.stdout)).toEqual([own.split(/[-,]/)[0]!, own.split(/[-,]/)[0]!]);
    });
  }
});
