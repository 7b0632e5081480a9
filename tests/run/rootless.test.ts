// Rootless mode: the main checks again, run by an unprivileged user (tests/helpers/user.ts), where
// the jail lives in a user namespace mapping the user's own id.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { CAP_NAMES, DEFAULT_CAPS } from "../../sys/caps.ts";
import { LiveJail, capSets, hostMounts, jailx, lines, marker, nsLink, processesWith, programPid, status, waitUntil, type RunOpts } from "../helpers/jail.ts";
import { asUser, installRootless, type Rootless } from "../helpers/user.ts";
import { program, testIf } from "../helpers/kernel.ts";

let rl: Rootless;
let as: RunOpts;
let scratch: string;

beforeAll(() => {
  rl = installRootless();
  as = asUser(rl);
  scratch = mkdtempSync("/tmp/jx-rootless-");
  chownSync(scratch, rl.user.uid, rl.user.gid);
});
afterAll(() => {
  rl?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const DEFAULT_MASK = DEFAULT_CAPS.reduce((m, n) => m | (1n << BigInt(CAP_NAMES.indexOf(n))), 0n);
const sh = (script: string, flags: string[] = []) => jailx(["run", ...flags, "--", "/bin/sh", "-c", script], as);
const WAIT = "echo ready; while :; do sleep 1; done";

describe("rootless: the basics", () => {
  test("the test user is not root, and the run works", () => {
    expect(rl.user.uid).toBeGreaterThan(0);
    const r = sh("echo ok");
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("ok\n");
  });

  test("root inside, mapped to the user's own uid (uid_map '0 UID 1')", () => {
    const r = sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map");
    expect(lines(r.stdout).map((l) => l.trim().split(/\s+/).join(" "))).toEqual(["0", "0", `0 ${rl.user.uid} 1`, `0 ${rl.user.gid} 1`]);
  });

  test("from the host: the program runs as the user, in its own user namespace and the others", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; ${WAIT}`], as);
    try {
      await jail.waitForLine(/^ready$/);
      const pid = programPid(jail.pid, mark);
      expect(status(pid, "Uid").split(/\s+/)).toEqual(Array(4).fill(String(rl.user.uid)));
      expect(status(pid, "NoNewPrivs")).toBe("1");
      for (const ns of ["user", "pid", "mnt", "uts", "ipc", "cgroup"]) expect(nsLink(pid, ns)).not.toBe(nsLink("self", ns));
      expect(nsLink(pid, "net")).toBe(nsLink("self", "net"));
      expect(status(pid, "NSpid").split(/\s+/).at(-1)).toBe("2");
    } finally {
      await jail.dispose();
    }
  });

  test("PID 2 under init, no host processes", () => {
    const r = sh('echo "self=$$"; ps -e -o pid= | wc -l');
    const [self, count] = lines(r.stdout);
    expect(self).toBe("self=2");
    expect(Number(count)).toBeLessThan(8);
  });

  test("hostname isolated; --hostname", () => {
    expect(sh("hostname").stdout).toBe("jailx\n");
    expect(sh("hostname", ["--hostname", "rootless-box"]).stdout).toBe("rootless-box\n");
  });
});

describe("rootless: filesystem", () => {
  test("/etc/shadow does not exist; /root, /home, /var absent", () => {
    const r = sh("ls /etc/shadow 2>/dev/null | wc -l; ls -d /root /home /var 2>/dev/null | wc -l");
    expect(lines(r.stdout)).toEqual(["0", "0"]);
  });

  test("the root and system binds are read-only, /tmp is writable", () => {
    const r = sh("for p in /x /usr/x /etc/x; do { echo > $p; } 2>/dev/null && echo wrote-$p; done; echo t > /tmp/t && cat /tmp/t");
    expect(r.stdout).toBe("t\n");
  });

  test("--bind of a directory the user owns is writable and visible on the host", () => {
    const r = sh("echo from-rootless > /data/out", ["--bind", `${scratch}:/data`]);
    expect(r.code).toBe(0);
    expect(readFileSync(`${scratch}/out`, "utf8")).toBe("from-rootless\n");
    // Root inside is the user outside.
    expect(Bun.spawnSync(["stat", "-c", "%u", `${scratch}/out`]).stdout.toString().trim()).toBe(String(rl.user.uid));
  });

  test("masked /proc entries read nothing; /proc/sys is read-only", () => {
    const r = sh("for f in kcore keys timer_list sched_debug; do cat /proc/$f 2>/dev/null; done | wc -c; { echo x > /proc/sys/kernel/hostname; } 2>/dev/null || echo ro");
    expect(lines(r.stdout)).toEqual(["0", "ro"]);
  });

  test("/dev holds only the minimal set", () => {
    expect(lines(sh("ls -A /dev").stdout).sort()).toEqual(
      ["fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"].sort(),
    );
  });
});

describe("rootless: privileges", () => {
  test("capabilities inside the user namespace are the default set; --cap-drop ALL empties them", () => {
    expect(capSets(sh("cat /proc/self/status").stdout)).toEqual({ CapBnd: DEFAULT_MASK, CapPrm: DEFAULT_MASK, CapEff: DEFAULT_MASK, CapInh: 0n, CapAmb: 0n });
    expect(capSets(sh("cat /proc/self/status", ["--cap-drop", "ALL"]).stdout)).toEqual({ CapBnd: 0n, CapPrm: 0n, CapEff: 0n, CapInh: 0n, CapAmb: 0n });
  });

  test("no_new_privs is set", () => {
    expect(sh("grep NoNewPrivs /proc/self/status").stdout).toMatch(/^NoNewPrivs:\s+1$/m);
  });

  testIf(program("gcc"))("a setuid-root binary does not raise privileges (--rootless-map self)", () => {
    const dir = mkdtempSync("/tmp/jx-rl-suid-");
    try {
      chmodSync(dir, 0o755);
      writeFileSync(`${dir}/euid.c`, '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("euid=%d\\n",(int)geteuid());return 0;}\n');
      expect(Bun.spawnSync(["gcc", "-o", `${dir}/euid`, `${dir}/euid.c`]).exitCode).toBe(0);
      chmodSync(`${dir}/euid`, 0o4755);
      const r = jailx(["run", "--rootless-map", "self", "--ro-bind", dir, "--", `${dir}/euid`], as);
      expect(r.stdout).toBe(`euid=${rl.user.uid}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("--rootless-map self: the program keeps the user's own uid and has no capabilities", () => {
    const r = sh("id -u; grep CapEff /proc/self/status", ["--rootless-map", "self"]);
    expect(r.stderr).toBe("");
    const [uid, eff] = lines(r.stdout);
    expect(uid).toBe(String(rl.user.uid));
    expect(eff).toMatch(/^CapEff:\s+0+$/);
  });

  testIf(program("newuidmap"))("--rootless-map sub: the /etc/subuid range is mapped and --user 1000 works", () => {
    const start = rl.user.subStart;
    const r = sh("cat /proc/self/uid_map; id -u", ["--rootless-map", "sub", "--user", "1000"]);
    const out = lines(r.stdout).map((l) => l.trim().split(/\s+/).join(" "));
    expect(out[0]).toBe(`0 ${rl.user.uid} 1`);
    expect(out[1]).toMatch(new RegExp(`^1 ${start} \\d+$`));
    expect(out[2]).toBe("1000");
  });
});

describe("rootless: process and exit status", () => {
  test.each([[0, "exit 0"], [42, "exit 42"], [143, "kill -TERM $$"]] as const)("status %d", (code, script) => {
    expect(sh(script).code).toBe(code);
  });

  test("126 and 127, each with one line", () => {
    for (const [prog, code] of [["/etc/passwd", 126], ["/no/such", 127]] as const) {
      const r = jailx(["run", "--", prog], as);
      expect(r.code).toBe(code);
      expect(lines(r.stderr)).toHaveLength(1);
    }
  });

  test.each([
    ["--user outside the map", ["--user", "1000", "--", "/bin/true"]],
    ["--no-userns", ["--no-userns", "--", "/bin/true"]],
    ["--userns-map (root only)", ["--userns-map", "100000:10", "--", "/bin/true"]],
    ["unknown flag", ["--bogus", "--", "/bin/true"]],
  ])("125 with one line: %s", (_why, args) => {
    const r = jailx(["run", ...args], as);
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toHaveLength(1);
  });

  test("signals sent to the supervisor reach the program", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; trap 'echo got-USR1' USR1; trap 'echo got-TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done`], as);
    try {
      await jail.waitForLine(/^ready$/);
      jail.kill("SIGUSR1");
      await jail.waitForLine(/^got-USR1$/);
      jail.kill("SIGTERM");
      await jail.waitForLine(/^got-TERM$/);
      expect((await jail.exit()).code).toBe(0);
    } finally {
      await jail.dispose();
    }
  });

  test("--net none: only lo, up", () => {
    const r = sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; ip -o link show lo", ["--net", "none"]);
    const out = lines(r.stdout);
    expect(out[0]).toBe("lo");
    expect(out.length).toBe(2);
    expect(out[1]).toMatch(/\bUP\b/);
  });

  test("fds beyond stdio do not leak", () => {
    const r = Bun.spawnSync(["/bin/sh", "-c", `exec 3</etc/hostname 7</etc/hostname; exec "$@"`, "sh", ...rl.wrap, rl.binary, "run", "--", "/bin/ls", "/proc/self/fd"], {
      cwd: "/", env: rl.env, stdout: "pipe", stderr: "pipe",
    });
    expect(lines(r.stdout.toString())).toEqual(["0", "1", "2", "3"]);
  });

  test("kill -9 of the supervisor leaves no process or mount behind", async () => {
    const mounts = hostMounts();
    const mark = marker("rl-k9");
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; (while :; do sleep 1; done) & ${WAIT}`], as);
    try {
      await jail.waitForLine(/^ready$/);
      expect(processesWith(mark).length).toBeGreaterThanOrEqual(2);
      jail.kill("SIGKILL");
      await jail.exit();
      await waitUntil(() => processesWith(mark).length === 0, 20_000, "the jail's processes to end");
      expect(hostMounts()).toEqual(mounts);
    } finally {
      await jail.dispose();
    }
  });
});

describe("rootless: more of the main checks", () => {
  test("--tmpfs, --chdir and a --ro-bind at another path", () => {
    const r = sh("pwd; echo x > /scratch/x && cat /scratch/x; ls /ro >/dev/null && echo listed", ["--tmpfs", "/scratch", "--chdir", "/scratch", "--ro-bind", `${scratch}:/ro`]);
    expect(r.stderr).toBe("");
    expect(lines(r.stdout)).toEqual(["/scratch", "x", "listed"]);
  });

  test("environment: container=jailx, Bun's variables stripped, --setenv/--unsetenv", () => {
    const r = jailx(["run", "--setenv", "A=1", "--unsetenv", "LANG", "--", "/usr/bin/env"], { ...as, env: { ...rl.env, BUN_X: "1", MIMALLOC_Y: "1" } });
    const env = lines(r.stdout);
    expect(env).toContain("container=jailx");
    expect(env).toContain("A=1");
    expect(env.filter((l) => /^(BUN_|MIMALLOC_|LANG=)/.test(l))).toEqual([]);
  });

  test("--rlimit nofile=100 sets soft and hard", () => {
    expect(sh("ulimit -S -n; ulimit -H -n", ["--rlimit", "nofile=100"]).stdout).toBe("100\n100\n");
  });

  test("the default limits: sized tmpfs mounts apply; the default pids limit is skipped without a word (no delegation)", () => {
    const r = sh("stat -f -c %b /tmp /run /dev/shm", ["--tmpfs-size", "4m"]);
    expect(r.stderr).toBe("");
    expect(lines(r.stdout)).toEqual(["1024", "1024", "1024"]);
  });

  test("--as-pid-1 and orphan reaping", () => {
    expect(sh('echo $$', ["--as-pid-1"]).stdout).toBe("1\n");
    const r = sh("( true & echo $! > /tmp/gc ); gc=$(cat /tmp/gc); i=0; while [ -e /proc/$gc ] && [ $i -lt 1000 ]; do i=$((i+1)); sleep 0.01; done; [ -e /proc/$gc ] && echo left || echo reaped");
    expect(r.stdout).toBe("reaped\n");
  });

  test("--pass-fd 3", () => {
    const r = Bun.spawnSync(["/bin/sh", "-c", `exec 3</etc/hostname; exec "$@"`, "sh", ...rl.wrap, rl.binary, "run", "--pass-fd", "3", "--", "/bin/sh", "-c", "cat <&3"], {
      cwd: "/", env: rl.env, stdout: "pipe", stderr: "pipe",
    });
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString()).toBe(readFileSync("/etc/hostname", "utf8"));
  });

  test("a cgroup limit the user cannot get is refused with one line and a hint (125), not ignored", () => {
    const r = jailx(["run", "--memory", "64m", "--", "/bin/true"], as);
    if (r.code === 0) return; // a delegated cgroup: then the limit applies (tests/cgroup covers it)
    expect(r.code).toBe(125);
    expect(lines(r.stderr)).toHaveLength(2);
  });
});
