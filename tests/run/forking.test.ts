// --forking / --pid-file: a daemonizing program (systemd's Type=forking). The jail lives while
// the daemon it leaves lives; signals sent to jailx reach the daemon's main process (from the
// pid file, else init's only child); jailx's status is the daemon's; a program that leaves no
// daemon, or fails, still ends the jail at once; nothing is left behind.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cmdline, descendants, jailx, LiveJail, marker, processesWith, waitUntil } from "../helpers/jail.ts";

/** A daemon body: says it is ready, prints "hup" on SIGHUP, exits 0 on SIGTERM. */
const DAEMON = (mark: string) => `trap 'echo hup' HUP; trap 'exit 0' TERM; echo ready; while :; do sleep 1 & wait \\$!; done # ${mark}`;

describe("a daemonizing program", () => {
  test("the jail lives on after the program exits 0; HUP and TERM reach the daemon; its status is jailx's", async () => {
    const mark = marker("fork");
    // The program forks a daemon (in its own session, as daemon(3) does) and exits 0.
    const jail = new LiveJail(["run", "--forking", "--", "/bin/sh", "-c", `setsid /bin/sh -c "${DAEMON(mark)}" & exit 0`]);
    try {
      await jail.waitForLine(/^ready$/);
      // The start process is gone; the daemon (reparented to the jail's init) keeps the jail.
      // (jailx's own processes — init, a cgroup guard — carry the script in their argv too: only
      // /bin/sh processes count.)
      const shells = () => descendants(jail.pid).map((p) => cmdline(p) ?? []).filter((a) => a[0] === "/bin/sh");
      await waitUntil(() => !shells().some((a) => a.at(-1)!.endsWith("& exit 0")), 20_000, "the start process to exit");
      expect(shells().some((a) => a.some((x) => x.includes(mark)))).toBe(true);
      expect(jail.proc.exitCode).toBeNull();
      jail.kill("SIGHUP");
      await jail.waitForLine(/^hup$/);
      jail.kill("SIGTERM");
      const end = await jail.exit();
      expect(end.code).toBe(0);
      expect(end.stderr).toBe("");
      expect(processesWith(mark)).toEqual([]);
    } finally {
      await jail.dispose();
    }
  });
  test("a double fork without a pid file: the middle process exits 0, the real daemon takes over", async () => {
    const mark = marker("dfork");
    // The middle process waits on a fifo, so it is certainly init's only child when the program
    // exits; the test then releases it, and it forks the daemon and exits 0.
    const script = `mkfifo /tmp/go; (read x < /tmp/go; setsid /bin/sh -c "${DAEMON(mark)}" & exit 0) & exit 0 # ${mark}`;
    const jail = new LiveJail(["run", "--forking", "--", "/bin/sh", "-c", script]);
    try {
      // Once the start process has exited, the one process left running the script is the middle one.
      const left = () => descendants(jail.pid).filter((p) => cmdline(p)?.[0] === "/bin/sh" && cmdline(p)!.some((a) => a.includes(mark)));
      await waitUntil(() => left().length === 1 && childOfInit(left()[0]!), 20_000, "only the waiting middle process");
      const middle = left()[0]!;
      writeFileSync(`/proc/${middle}/root/tmp/go`, "go\n");
      await jail.waitForLine(/^ready$/);
      await waitUntil(() => !existsSync(`/proc/${middle}`), 20_000, "the middle process to exit");
      expect(jail.proc.exitCode).toBeNull();
      jail.kill("SIGHUP");
      await jail.waitForLine(/^hup$/);
      jail.kill("SIGTERM");
      expect((await jail.exit()).code).toBe(0);
      expect(processesWith(mark)).toEqual([]);
    } finally {
      await jail.dispose();
    }
  });
  test("the daemon's own status: killed by TERM without a handler → 143", async () => {
    const mark = marker("fork");
    const jail = new LiveJail(["run", "--forking", "--", "/bin/sh", "-c", `(echo ready; exec sleep 300 ${mark.length}) & exit 0 # ${mark}`]);
    try {
      await jail.waitForLine(/^ready$/);
      // The daemon (sleep) runs and the start process (/bin/sh with the marker) is gone.
      await waitUntil(() => {
        const d = descendants(jail.pid);
        return d.some((p) => readComm(p) === "sleep") && !d.some((p) => cmdline(p)?.[0] === "/bin/sh");
      }, 20_000, "the daemon's sleep, alone");
      jail.kill("SIGTERM");
      expect((await jail.exit()).code).toBe(143);
    } finally {
      await jail.dispose();
    }
  });
  test("--pid-file picks the main process among several; the others end with the jail", async () => {
    const mark = marker("pidf");
    const script = `sh -c 'echo $$ > /run/main.pid; echo ready; exec sleep 301' & sleep 302 & exit 0 # ${mark}`;
    const jail = new LiveJail(["run", "--pid-file", "/run/main.pid", "--", "/bin/sh", "-c", script]);
    try {
      await jail.waitForLine(/^ready$/);
      await waitUntil(() => descendants(jail.pid).filter((p) => readComm(p) === "sleep").length === 2, 20_000, "both sleeps");
      jail.kill("SIGUSR1");
      // sleep dies of SIGUSR1 (10): the main process's status, though the other sleep lived on.
      const end = await jail.exit();
      expect(end.code).toBe(128 + 10);
      expect(processesWith(mark)).toEqual([]);
    } finally {
      await jail.dispose();
    }
  });
  test("a program that leaves no daemon ends the jail at once, with its status", () => {
    expect(jailx(["run", "--forking", "--", "/bin/sh", "-c", "exit 0"]).code).toBe(0);
    expect(jailx(["run", "--forking", "--", "/bin/sh", "-c", "exit 3"]).code).toBe(3);
  });
  test("a program that fails after forking ends the jail at once (its children too)", () => {
    const mark = marker("fail");
    const r = jailx(["run", "--forking", "--", "/bin/sh", "-c", `sleep 303 & exit 4 # ${mark}`]);
    expect(r.code).toBe(4);
    expect(processesWith(mark)).toEqual([]);
  });
  test("control: without --forking the jail ends when the program does", () => {
    const mark = marker("nofork");
    const r = jailx(["run", "--", "/bin/sh", "-c", `sleep 304 & exit 0 # ${mark}`]);
    expect(r.code).toBe(0);
    expect(processesWith(mark)).toEqual([]);
  });
  test("--forking with --as-pid-1 is refused (no init to follow the daemon)", () => {
    const r = jailx(["run", "--forking", "--as-pid-1", "--", "/bin/true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("remove --as-pid-1");
  });
  test("--pid-file must be absolute", () => {
    const r = jailx(["run", "--pid-file", "run/x.pid", "--", "/bin/true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("--pid-file 'run/x.pid'");
  });
});

function readComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}

/** The process's parent is the jail's init (pid 1 in the jail's pid namespace). */
function childOfInit(pid: number): boolean {
  try {
    const ppid = /^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1];
    return /^NSpid:.*\s1$/m.test(readFileSync(`/proc/${ppid}/status`, "utf8"));
  } catch {
    return false;
  }
}
