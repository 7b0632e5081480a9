// Privileges of the jailed program: the five capability sets, --cap-add/--cap-drop, non-root
// users, no_new_privs and setuid binaries — read inside and from the host's /proc/PID/status.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { CAP_NAMES, DEFAULT_CAPS } from "../../sys/caps.ts";
import { LiveJail, capSets, jailx, marker, programPid, sh } from "../helpers/jail.ts";
import { program, testIf } from "../helpers/kernel.ts";

const bit = (name: string) => 1n << BigInt(CAP_NAMES.indexOf(name));
const DEFAULT_MASK = DEFAULT_CAPS.reduce((m, n) => m | bit(n), 0n);

function capsInside(flags: string[]) {
  const r = sh("cat /proc/self/status", flags);
  expect(r.code).toBe(0);
  return capSets(r.stdout);
}

describe("capabilities", () => {
  test("the documented default set (sys/caps.ts DEFAULT_CAPS) in bounding, permitted and effective; none inheritable or ambient", () => {
    expect(DEFAULT_CAPS.length).toBeGreaterThan(5);
    expect(capsInside([])).toEqual({ CapBnd: DEFAULT_MASK, CapPrm: DEFAULT_MASK, CapEff: DEFAULT_MASK, CapInh: 0n, CapAmb: 0n });
  });

  test("nothing that reaches outside the jail is in the default set", () => {
    for (const c of ["sys_admin", "sys_ptrace", "sys_module", "net_admin", "dac_read_search", "sys_rawio", "sys_time", "bpf", "perfmon"])
      expect(DEFAULT_MASK & bit(c)).toBe(0n);
  });

  test("the host sees the same sets on the running program", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      const sets = capSets(readFileSync(`/proc/${programPid(jail.pid, mark)}/status`, "utf8"));
      expect(sets).toEqual({ CapBnd: DEFAULT_MASK, CapPrm: DEFAULT_MASK, CapEff: DEFAULT_MASK, CapInh: 0n, CapAmb: 0n });
    } finally {
      await jail.dispose();
    }
  });

  test("--cap-drop ALL empties every set", () => {
    expect(capsInside(["--cap-drop", "ALL"])).toEqual({ CapBnd: 0n, CapPrm: 0n, CapEff: 0n, CapInh: 0n, CapAmb: 0n });
  });

  test("--cap-add NET_ADMIN adds it to the default set", () => {
    const want = DEFAULT_MASK | bit("net_admin");
    expect(capsInside(["--cap-add", "NET_ADMIN"])).toEqual({ CapBnd: want, CapPrm: want, CapEff: want, CapInh: 0n, CapAmb: 0n });
  });

  test("--cap-add NET_ADMIN works: root in a --net none jail can change an interface", () => {
    expect(sh("ip link set lo mtu 1280 2>&1; echo rc=$?", ["--net", "none"]).stdout).toMatch(/rc=[12]\n$/);
    expect(sh("ip link set lo mtu 1280 && echo changed", ["--net", "none", "--cap-add", "NET_ADMIN"]).stdout).toBe("changed\n");
  });

  test("--cap-drop CHOWN removes it, and chown fails", () => {
    const sets = capsInside(["--cap-drop", "CHOWN"]);
    expect(sets.CapEff).toBe(DEFAULT_MASK & ~bit("chown"));
    expect(sets.CapBnd).toBe(DEFAULT_MASK & ~bit("chown"));
    const r = sh("touch /tmp/f && chown 1234 /tmp/f 2>&1; echo rc=$?", ["--cap-drop", "cap_chown"]);
    expect(r.stdout).toMatch(/Operation not permitted\nrc=1\n$/);
  });

  test("--user 1000 has no capabilities (the bounding set stays the default)", () => {
    expect(capsInside(["--user", "1000"])).toEqual({ CapBnd: DEFAULT_MASK, CapPrm: 0n, CapEff: 0n, CapInh: 0n, CapAmb: 0n });
  });

  test("--user 1000 --cap-add NET_BIND_SERVICE raises just that one, as ambient", () => {
    const b = bit("net_bind_service");
    const sets = capsInside(["--user", "1000", "--cap-add", "NET_BIND_SERVICE"]);
    expect(sets).toEqual({ CapBnd: DEFAULT_MASK, CapPrm: b, CapEff: b, CapInh: b, CapAmb: b });
  });

  test("root in the jail cannot mount (no CAP_SYS_ADMIN)", () => {
    const r = sh("mkdir /tmp/m && mount -t tmpfs none /tmp/m 2>&1; echo rc=$?");
    expect(r.stdout).not.toMatch(/rc=0\n$/);
  });
});

describe("no_new_privs", () => {
  test("is set by default, and --allow-new-privs leaves it off", () => {
    expect(sh("grep NoNewPrivs /proc/self/status").stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(sh("grep NoNewPrivs /proc/self/status", ["--allow-new-privs", "--seccomp", "none"]).stdout).toMatch(/^NoNewPrivs:\s+0$/m);
  });
});

describe("setuid binaries", () => {
  let dir: string;
  const hasGcc = existsSync("/usr/bin/gcc");
  beforeAll(() => {
    dir = mkdtempSync("/tmp/jx-suid-");
    chmodSync(dir, 0o755);
    if (!hasGcc) return;
    writeFileSync(`${dir}/euid.c`, '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("euid=%d\\n",(int)geteuid());return 0;}\n');
    const cc = Bun.spawnSync(["gcc", "-o", `${dir}/euid`, `${dir}/euid.c`], { stderr: "pipe" });
    if (cc.exitCode !== 0) throw new Error(cc.stderr.toString());
    chmodSync(`${dir}/euid`, 0o4755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  testIf(program("gcc"))("control: on the host the setuid-root probe does raise euid to 0", () => {
    const r = Bun.spawnSync(["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", `${dir}/euid`]);
    expect(r.stdout.toString()).toBe("euid=0\n");
  });

  testIf(program("gcc"))("in the jail as --user 1000 it does not", () => {
    const r = jailx(["run", "--user", "1000", "--ro-bind", dir, "--", `${dir}/euid`]);
    expect(r.stdout).toBe("euid=1000\n");
  });

  testIf(program("gcc"))("not even with --allow-new-privs, and not through a read-write --bind", () => {
    const r = jailx(["run", "--user", "1000", "--allow-new-privs", "--seccomp", "none", "--bind", dir, "--", `${dir}/euid`]);
    expect(r.stdout).toBe("euid=1000\n");
  });

  test("the jail's binds are mounted nosuid", () => {
    const r = sh("awk '$5==\"/usr\" || $5==\"/etc\" || $5==\"/tmp\" {print $5, $6}' /proc/self/mountinfo");
    const rows = r.stdout.trim().split("\n");
    expect(rows.length).toBe(3);
    for (const row of rows) expect(row).toMatch(/\bnosuid\b/);
  });
});
