// Namespaces of `jailx run`, checked from inside the jail and from the host (ns links, status).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { LiveJail, jailx, lines, marker, nsLink, programPid, sh, status } from "../helpers/jail.ts";

/** A program that prints "ready" and then runs until it is killed. */
const READY_THEN_WAIT = "echo ready; while :; do sleep 1; done";

describe("pid namespace", () => {
  test("the program sees itself as PID 2 under jailx's init, and no host process", () => {
    const r = sh('echo "self=$$"; ls /proc | grep -E "^[0-9]+$" | sort -n | tr "\\n" " "');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("self=2\n");
    // Only init (1), the shell (2) and the pipeline's own processes: all small numbers.
    const pids = r.stdout.split("\n")[1]!.trim().split(" ").map(Number);
    expect(pids[0]).toBe(1);
    expect(pids).toContain(2);
    expect(Math.max(...pids)).toBeLessThan(10);
    expect(pids).not.toContain(process.pid);
  });

  test("ps inside lists only the jail's processes", () => {
    const r = sh("ps -e -o pid= -o comm=");
    expect(r.code).toBe(0);
    const rows = lines(r.stdout).map((l) => l.trim().split(/\s+/));
    expect(rows.map((x) => Number(x[0])).every((p) => p < 10)).toBe(true);
    expect(rows.some((x) => x[1] === "ps")).toBe(true);
  });

  test("--as-pid-1 runs the program itself as PID 1", () => {
    const r = sh('echo "self=$$ parent=$PPID"', ["--as-pid-1"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("self=1 parent=0\n");
  });

  test("from the host, the program's NSpid shows its pid in the jail", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; ${READY_THEN_WAIT}`]);
    try {
      await jail.waitForLine(/^ready$/);
      const pid = programPid(jail.pid, mark);
      const nspid = status(pid, "NSpid").split(/\s+/).map(Number);
      expect(nspid).toEqual([pid, 2]);
      expect(nsLink(pid, "pid")).not.toBe(nsLink("self", "pid"));
    } finally {
      await jail.dispose();
    }
  });
});

describe("namespace links seen from the host", () => {
  async function links(flags: string[]): Promise<Record<string, boolean>> {
    const mark = marker();
    const jail = new LiveJail(["run", ...flags, "--", "/bin/sh", "-c", `: ${mark}; ${READY_THEN_WAIT}`]);
    try {
      await jail.waitForLine(/^ready$/);
      const pid = programPid(jail.pid, mark);
      const out: Record<string, boolean> = {};
      for (const ns of ["pid", "mnt", "uts", "ipc", "cgroup", "net", "user"]) out[ns] = nsLink(pid, ns) !== nsLink("self", ns);
      return out;
    } finally {
      await jail.dispose();
    }
  }

  test("default: new pid, mnt, uts, ipc, cgroup; host net; no user namespace for root", async () => {
    expect(await links([])).toEqual({ pid: true, mnt: true, uts: true, ipc: true, cgroup: true, net: false, user: false });
  });

  test("--share uts --share ipc --share cgroup --net none --userns", async () => {
    expect(await links(["--share", "uts", "--share", "ipc", "--share", "cgroup", "--net", "none", "--userns"])).toEqual({
      pid: true, mnt: true, uts: false, ipc: false, cgroup: false, net: true, user: true,
    });
  });
});

describe("uts namespace", () => {
  test("the hostname is 'jailx' by default and the host's is untouched", () => {
    const before = hostname();
    const r = sh("hostname; cat /proc/sys/kernel/hostname");
    expect(r.stdout).toBe("jailx\njailx\n");
    expect(hostname()).toBe(before);
  });

  test("--hostname sets it", () => {
    expect(sh("hostname", ["--hostname", "box-1.test"]).stdout).toBe("box-1.test\n");
  });

  test("--share uts keeps the host's hostname", () => {
    expect(sh("hostname", ["--share", "uts"]).stdout).toBe(`${hostname()}\n`);
  });

  test("changing the hostname inside does not change the host's", () => {
    const before = readFileSync("/proc/sys/kernel/hostname", "utf8");
    // Root in the jail keeps no CAP_SYS_ADMIN, so sethostname is refused; either way the host is untouched.
    sh("hostname changed-inside 2>/dev/null; true");
    expect(readFileSync("/proc/sys/kernel/hostname", "utf8")).toBe(before);
  });
});

describe("ipc namespace", () => {
  test("a System V shared memory segment of the host is invisible inside, visible with --share ipc", () => {
    const made = Bun.spawnSync(["ipcmk", "-M", "4096"]).stdout.toString();
    const id = /(\d+)\s*$/.exec(made.trim())?.[1];
    expect(id).toBeDefined();
    try {
      const ids = (t: string) => lines(t).slice(1).map((l) => l.trim().split(/\s+/)[1]);
      expect(ids(sh("cat /proc/sysvipc/shm").stdout)).not.toContain(id);
      expect(ids(sh("cat /proc/sysvipc/shm", ["--share", "ipc"]).stdout)).toContain(id);
    } finally {
      Bun.spawnSync(["ipcrm", "-m", id!]);
    }
  });
});

describe("cgroup namespace", () => {
  test("the jail sees its cgroup as the root; --share cgroup shows the host's path", () => {
    const own = readFileSync("/proc/self/cgroup", "utf8").split("\n").find((l) => l.includes(":memory:"));
    const inside = (flags: string[]) => lines(sh("cat /proc/self/cgroup", flags).stdout).find((l) => l.includes(":memory:"));
    expect(inside([])).toMatch(/:memory:\/$/);
    if (own && !own.endsWith(":/")) expect(inside(["--share", "cgroup"])).toBe(own);
  });
});

describe("network namespace", () => {
  test("--net none: only lo, and it is up", () => {
    const r = sh("ip -o link show; echo ---; cat /proc/net/dev", ["--net", "none"]);
    expect(r.code).toBe(0);
    const [links] = r.stdout.split("---\n");
    const names = lines(links!).map((l) => l.split(":")[1]!.trim().replace(/@.*/, ""));
    expect(names).toEqual(["lo"]);
    expect(links).toMatch(/<[^>]*\bUP\b[^>]*>/);
  });

  test("--net none: a TCP connection over loopback works", () => {
    const py = [
      "import socket",
      "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(1)",
      "c=socket.create_connection(s.getsockname()); a,_=s.accept()",
      "c.sendall(b'ping'); print(a.recv(4).decode())",
    ].join("\n");
    const r = jailx(["run", "--net", "none", "--", "/usr/bin/python3", "-c", py]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("ping\n");
  });

  test("--net none: no route to the outside", () => {
    const r = sh("ip -o route show; ip -o addr show | grep -v ' lo ' || true", ["--net", "none"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("");
  });

  test("--net host (default) sees the host's interfaces", () => {
    const host = Bun.spawnSync(["ip", "-o", "link", "show"]).stdout.toString();
    const names = (t: string) => lines(t).map((l) => l.split(":")[1]!.trim()).sort();
    const r = sh("ip -o link show");
    expect(r.code).toBe(0);
    expect(names(r.stdout)).toEqual(names(host));
    expect(names(host).length).toBeGreaterThan(1);
  });
});

describe("user namespace for root (--userns)", () => {
  test("uid_map shows the mapped range, inside and from the host", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--userns", "--userns-map", "200000:65536", "--", "/bin/sh", "-c", `: ${mark}; cat /proc/self/uid_map /proc/self/gid_map; id -u; ${READY_THEN_WAIT}`]);
    try {
      await jail.waitForLine(/^ready$/);
      const [uidMap, gidMap, uid] = lines(jail.output).map((l) => l.trim().split(/\s+/).join(" "));
      expect(uidMap).toBe("0 200000 65536");
      expect(gidMap).toBe("0 200000 65536");
      expect(uid).toBe("0");
      const pid = programPid(jail.pid, mark);
      // Seen from the host, the jail's root is host uid 200000.
      expect(status(pid, "Uid").split(/\s+/)).toEqual(["200000", "200000", "200000", "200000"]);
      expect(readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split(/\s+/).join(" ")).toBe("0 200000 65536");
    } finally {
      await jail.dispose();
    }
  });

  test("--userns without a map uses a documented range", () => {
    const r = sh("cat /proc/self/uid_map", ["--userns"]);
    expect(r.code).toBe(0);
    const [inside, outside, count] = r.stdout.trim().split(/\s+/).map(Number);
    expect(inside).toBe(0);
    expect(outside).toBeGreaterThan(0);
    expect(count).toBeGreaterThanOrEqual(65536);
  });
});

