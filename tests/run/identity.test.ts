// Identity of the jailed program: user and groups, environment, resource limits — from inside
// and from the host's /proc/PID/status and /proc/PID/limits.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { LiveJail, jailx, lines, marker, programPid, sh, status } from "../helpers/jail.ts";

/** `id -u; id -g; id -G` of the program, run under a caller that has supplementary groups 4 and 24. */
function ids(flags: string[]): string[] {
  const r = jailx(["run", ...flags, "--", "/bin/sh", "-c", "id -u; id -g; id -G"], { wrap: ["setpriv", "--groups", "4,24", "--"] });
  expect(r.stderr).toBe("");
  return lines(r.stdout);
}

describe("--user", () => {
  test("root by default, with the caller's supplementary groups dropped", () => {
    expect(ids([])).toEqual(["0", "0", "0"]);
  });

  test("by name: uid, primary gid from the jail's /etc/passwd, no supplementary groups", () => {
    const pw = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("nobody:"))!.split(":");
    expect(ids(["--user", "nobody"])).toEqual([pw[2]!, pw[3]!, pw[3]!]);
  });

  test("by uid:gid, including ids without a passwd entry", () => {
    expect(ids(["--user", "4321:8765"])).toEqual(["4321", "8765", "8765"]);
  });

  test("by name:group", () => {
    expect(ids(["--user", "daemon:adm"])).toEqual(["1", "4", "4"]);
  });

  test("the host sees the same uid/gid and empty groups in /proc/PID/status", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--user", "4321:8765", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`], {
      wrap: ["setpriv", "--groups", "4,24", "--"],
    });
    try {
      await jail.waitForLine(/^ready$/);
      const pid = programPid(jail.pid, mark);
      expect(status(pid, "Uid").split(/\s+/)).toEqual(["4321", "4321", "4321", "4321"]);
      expect(status(pid, "Gid").split(/\s+/)).toEqual(["8765", "8765", "8765", "8765"]);
      expect(status(pid, "Groups")).toBe("");
    } finally {
      await jail.dispose();
    }
  });

  test("jailx's own init runs with the program's ids, not as host root", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--user", "4321:8765", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      const pid = programPid(jail.pid, mark);
      const init = Number(status(pid, "PPid"));
      expect(status(init, "NSpid").split(/\s+/).at(-1)).toBe("1");
      expect(status(init, "Uid").split(/\s+/)[1]).toBe("4321");
      expect(status(init, "CapEff")).toBe("0000000000000000");
    } finally {
      await jail.dispose();
    }
  });
});

describe("environment", () => {
  const env = (flags: string[], extra: Record<string, string> = {}) => {
    const r = jailx(["run", ...flags, "--", "/usr/bin/env"], { env: extra });
    expect(r.code).toBe(0);
    return Object.fromEntries(lines(r.stdout).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  };

  test("inherited, plus container=jailx, minus BUN_*, MIMALLOC_* and JAILX_*", () => {
    const e = env([], { KEEP_ME: "yes", BUN_CONFIG_X: "1", BUN_JSC_useJIT: "1", MIMALLOC_VERBOSE: "1", JAILX_SECRET: "1" });
    expect(e.KEEP_ME).toBe("yes");
    expect(e.container).toBe("jailx");
    expect(Object.keys(e).filter((k) => /^(BUN_|MIMALLOC_|JAILX_)/.test(k))).toEqual([]);
  });

  test("--clearenv keeps only PATH, HOME and container", () => {
    const e = env(["--clearenv"], { KEEP_ME: "yes" });
    expect(Object.keys(e).sort()).toEqual(["HOME", "PATH", "container"]);
  });

  test("--clearenv with --user sets HOME from the jail's passwd", () => {
    const home = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("nobody:"))!.split(":")[5];
    expect(env(["--clearenv", "--user", "nobody"]).HOME).toBe(home);
  });

  test("--setenv and --unsetenv, repeated", () => {
    const e = env(["--setenv", "A=1", "--setenv", "B=x=y", "--unsetenv", "KEEP_ME", "--unsetenv", "container"], { KEEP_ME: "yes" });
    expect(e.A).toBe("1");
    expect(e.B).toBe("x=y");
    expect("KEEP_ME" in e).toBe(false);
    expect("container" in e).toBe(false);
  });

  test("the host sees the same environment in /proc/PID/environ", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--clearenv", "--setenv", `M=${mark}`, "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`], {
      env: { BUN_X: "1" },
    });
    try {
      await jail.waitForLine(/^ready$/);
      const environ = readFileSync(`/proc/${programPid(jail.pid, mark)}/environ`, "utf8").split("\0").filter(Boolean);
      expect(environ.map((kv) => kv.split("=")[0]).sort()).toEqual(["HOME", "M", "PATH", "container"]);
    } finally {
      await jail.dispose();
    }
  });
});

describe("--rlimit", () => {
  test("nofile=100 is visible in /proc/self/limits and enforced", () => {
    const r = sh("grep 'Max open files' /proc/self/limits; ulimit -n; ulimit -n 200 2>&1 || echo raise-refused", ["--rlimit", "nofile=100"]);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^Max open files\s+100\s+\d+\s+files/);
    expect(out[1]).toBe("100");
  });

  test("one value sets soft AND hard: the program cannot raise it back (host view of /proc/PID/limits)", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--rlimit", "nofile=64", "--", "/bin/sh", "-c",
      `: ${mark}; ulimit -S -n 65 2>/dev/null && echo raised || echo refused; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      expect(jail.output).toContain("refused\n");
      const limits = readFileSync(`/proc/${programPid(jail.pid, mark)}/limits`, "utf8");
      expect(limits).toMatch(/^Max open files\s+64\s+64\s+files/m);
    } finally {
      await jail.dispose();
    }
  });

  test("SOFT:HARD sets both; the hard one cannot be raised inside", () => {
    const r = sh("grep 'Max processes' /proc/self/limits; ulimit -H -u 70 2>/dev/null && echo raised || echo refused", ["--rlimit", "nproc=50:60"]);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^Max processes\s+50\s+60\s+processes/);
    expect(out[1]).toBe("refused");
  });

  test("the host sees the limit on the program", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--rlimit", "core=0:0", "--rlimit", "nofile=123", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      const limits = readFileSync(`/proc/${programPid(jail.pid, mark)}/limits`, "utf8");
      expect(limits).toMatch(/^Max core file size\s+0\s+0\s/m);
      expect(limits).toMatch(/^Max open files\s+123\s/m);
    } finally {
      await jail.dispose();
    }
  });
});
