// The jail's /proc shows only an allow-list of top-level entries (jail/mounts.ts PROC_VISIBLE);
// every other entry the host's /proc lists is masked, so a file a newer kernel adds is hidden by
// default. Checked from inside (reads nothing, common programs still work), from the host (the
// masks in the program's mountinfo), and rootless (proc must be mounted before masks there).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROC_VISIBLE } from "../../jail/mounts.ts";
import { LiveJail, jailx, lines, marker, programPid, sh, type RunOpts } from "../helpers/jail.ts";
import { asUser, installRootless, type Rootless } from "../helpers/user.ts";
import { program, testIf, type Feature } from "../helpers/kernel.ts";

/** procps (ps, top, free, uptime, vmstat) on the host, which the jail binds read-only. */
const procps: Feature = ["ps", "top", "free", "uptime", "vmstat"].map(program).find((f) => !f.ok) ?? { ok: true, why: "" };

/** Top-level entries of the host's /proc that the jail must not see, by kind. */
function hiddenOnHost(): { files: string[]; dirs: string[] } {
  const files: string[] = [], dirs: string[] = [];
  for (const name of readdirSync("/proc")) {
    if (/^\d+$/.test(name) || PROC_VISIBLE.includes(name)) continue;
    const st = lstatSync(`/proc/${name}`);
    if (st.isSymbolicLink()) continue;
    (st.isDirectory() ? dirs : files).push(name);
  }
  return { files, dirs };
}

/** One line per hidden entry: "NAME BYTES" for files, "NAME/ ENTRIES" for directories. */
function readAllScript(h: { files: string[]; dirs: string[] }): string {
  return [
    `for f in ${h.files.join(" ")}; do echo "$f $(cat /proc/$f 2>/dev/null | wc -c)"; done`,
    `for d in ${h.dirs.join(" ")}; do echo "$d/ $(ls -A /proc/$d 2>/dev/null | wc -l)"; done`,
  ].join("; ");
}

const expectedEmpty = (h: { files: string[]; dirs: string[] }) => [...h.files.map((f) => `${f} 0`), ...h.dirs.map((d) => `${d}/ 0`)];

/** ps, top, free, uptime, vmstat and python3 need meminfo, stat, uptime, loadavg, cpuinfo, self… */
const PROGRAMS = [
  "ps -e -o pid= | wc -l",
  "top -b -n1 | grep -c '^MiB Mem'",
  "free | grep -c '^Mem:'",
  "uptime | grep -c 'load average'",
  "vmstat | tail -1 | wc -w",
  "python3 -c 'import os, multiprocessing, platform; print(os.cpu_count() >= 1, multiprocessing.cpu_count() >= 1, platform.system())'",
  "cat /proc/tty/drivers | grep -c /dev/tty",
].join("; ");

function checkPrograms(out: string): void {
  const l = lines(out);
  expect(Number(l[0])).toBeGreaterThanOrEqual(2); // init, sh, ps…
  expect(l.slice(1, 4)).toEqual(["1", "1", "1"]);
  expect(Number(l[4])).toBeGreaterThan(10); // a full row of numbers
  expect(l[5]).toBe("True True Linux");
  expect(Number(l[6])).toBeGreaterThan(0);
}

describe("root jail", () => {
  test("every top-level /proc entry not on the allow-list reads nothing (computed from the host's /proc)", () => {
    const h = hiddenOnHost();
    // Control: the host itself reads these (root), so an empty read in the jail is the mask.
    expect(readFileSync("/proc/cmdline").length).toBeGreaterThan(0);
    expect(h.files).toContain("cmdline");
    const r = sh(readAllScript(h));
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(expectedEmpty(h));
  });

  test("program_cpu, slabinfo and tty/driver/serial are masked by mounts, seen from the host", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      const mi = readFileSync(`/proc/${programPid(jail.pid, mark)}/mountinfo`, "utf8");
      const points = new Map(lines(mi).map((l) => [l.split(" ")[4]!, l.split(" ")[5]!]));
      for (const p of ["/proc/program_cpu", "/proc/slabinfo", "/proc/tty/driver", "/proc/cmdline"])
        if (readdirSync("/proc").includes(p.split("/")[2]!)) expect([p, points.get(p)?.slice(0, 2)]).toEqual([p, "ro"]);
      expect(points.get("/proc/sys")).toMatch(/^ro,/);
      for (const kept of ["/proc/meminfo", "/proc/stat", "/proc/cpuinfo", "/proc/uptime"]) expect(points.has(kept)).toBe(false);
    } finally {
      await jail.dispose();
    }
  });

  testIf(procps)("the visible entries are the kernel's, and ps, top, free, uptime, vmstat, python3 work", () => {
    const r = sh(`grep -c '^MemTotal:' /proc/meminfo; grep -c '^processor' /proc/cpuinfo | grep -vc '^0$'; ${PROGRAMS}`);
    expect(r.stderr).toBe("");
    const l = lines(r.stdout);
    expect(l.slice(0, 2)).toEqual(["1", "1"]);
    checkPrograms(l.slice(2).join("\n"));
  });
});

describe("rootless", () => {
  let rl: Rootless;
  let as: RunOpts;
  beforeAll(() => {
    rl = installRootless();
    as = asUser(rl);
  });
  afterAll(() => rl?.cleanup());

  test("the same masks apply in a user namespace (proc is mounted before them)", () => {
    const h = hiddenOnHost();
    const r = jailx(["run", "--", "/bin/sh", "-c", readAllScript(h)], as);
    expect(r.stderr).toBe("");
    expect(lines(r.stdout)).toEqual(expectedEmpty(h));
  });

  testIf(procps)("ps, top, free, uptime, vmstat, python3 work rootless too", () => {
    const p = jailx(["run", "--", "/bin/sh", "-c", PROGRAMS], as);
    expect(p.stderr).toBe("");
    checkPrograms(p.stdout);
  });
});

describe("the host's /proc, listed for the masks", () => {
  const S_IFMT = 0o170000;
  const isPid = (n: string) => /^\d+$/.test(n);

  test("read up to the first process: every entry a whole listing has that is not a process, with lstat's types", async () => {
    const { realHost } = await import("../../jail/host.ts");
    const listed = realHost().procEntries()!;
    // procfs's own entries do not change; the whole listing's differ only in processes
    expect(listed.map((e) => e.name).sort()).toEqual(readdirSync("/proc").filter((n) => !isPid(n)).sort());
    expect(listed.length).toBeGreaterThan(20);
    for (const e of listed) expect([e.name, e.mode]).toEqual([e.name, lstatSync(`/proc/${e.name}`).mode & S_IFMT]);
    // the kinds the masks tell apart are all there (directories, files, links)
    expect(new Set(listed.map((e) => e.mode)).size).toBeGreaterThanOrEqual(3);
  });

  test("the listing stops at the first process: no process entry is read past it (its cost does not grow with the host's processes)", async () => {
    const { readDirUntil } = await import("../../sys/proc.ts");
    const seen: string[] = [];
    const listed = readDirUntil("/proc", (n) => (seen.push(n), isPid(n)))!;
    expect(seen.filter(isPid)).toEqual([seen.at(-1)!]); // exactly one process looked at: the last name
    expect(readdirSync("/proc").filter(isPid).length).toBeGreaterThan(1);
    expect(listed.map((e) => e.name)).toEqual(seen.slice(0, -1).filter((n) => n !== "." && n !== ".."));
  });

  test("readDirUntil: every entry over several getdents calls, the head before a stop, null for no directory", async () => {
    const { readDirUntil } = await import("../../sys/proc.ts");
    const dir = mkdtempSync(join(tmpdir(), "jailx-readdir-"));
    try {
      // 600 names of 40 bytes: ~36 KB of records, several 8 KB reads
      const names = Array.from({ length: 600 }, (_, i) => `entry-${String(i).padStart(4, "0")}-${"x".repeat(29)}`);
      for (const n of names) writeFileSync(join(dir, n), "");
      mkdirSync(join(dir, "sub"));
      const all = readDirUntil(dir, () => false)!;
      expect(all.map((e) => e.name).sort()).toEqual([...names, "sub"].sort());
      expect(all.find((e) => e.name === "sub")!.dtype << 12).toBe(0o040000);
      expect(all.find((e) => e.name === names[0])!.dtype << 12).toBe(0o100000);
      const stopAt = all[400]!.name;
      expect(readDirUntil(dir, (n) => n === stopAt)).toEqual(all.slice(0, 400));
      expect(readDirUntil(join(dir, "missing"), () => false)).toBeNull();
      expect(readDirUntil(join(dir, names[0]!), () => false)).toBeNull(); // not a directory
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

