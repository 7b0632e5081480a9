// The filesystem view of `jailx run`: what is bound, what is hidden, what is read-only, checked
// from inside and, where it applies, from the host (mountinfo, files written through --bind).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JAILX, LiveJail, hostMounts, lines, marker, programPid, sh } from "../helpers/jail.ts";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync("/tmp/jx-fs-test-");
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function dir(name: string): string {
  const d = `${scratch}/${name}`;
  mkdirSync(d, { recursive: true });
  return d;
}

describe("what the jail sees", () => {
  test("the root holds only the system binds and the jail's own mounts", () => {
    const r = sh("ls -A /");
    expect(r.code).toBe(0);
    const allowed = new Set(["bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin", "tmp", "usr"]);
    const entries = lines(r.stdout);
    expect(entries.filter((e) => !allowed.has(e))).toEqual([]);
    expect(entries).toContain("usr");
  });

  test("/etc/shadow and the other secrets under /etc do not exist; the rest of /etc does", () => {
    expect(readFileSync("/etc/shadow", "utf8").length).toBeGreaterThan(0);
    const r = sh("for f in /etc/shadow /etc/shadow- /etc/gshadow /etc/sudoers /etc/sudoers.d /etc/ssl/private; do [ -e $f ] && echo present:$f; done; cat /etc/hostname; ls /etc/ssl");
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("present:");
    expect(lines(r.stdout)[0]).toBe(readFileSync("/etc/hostname", "utf8").trim());
    expect(lines(r.stdout)).toContain("certs");
  });

  test("host mounts beneath /etc (as a container runtime's resolv.conf) show through the /etc overlay", () => {
    // In a private mount namespace of its own (unshare -m), so the host's table never changes.
    const f = `${dir("etc-submount")}/hostname`;
    writeFileSync(f, "from-a-submount\n");
    const r = Bun.spawnSync(["unshare", "-m", "--propagation", "private", "sh", "-c", `mount --bind ${f} /etc/hostname && "$JAILX" run -- cat /etc/hostname`],
      { env: { ...process.env, JAILX }, stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString()).toBe("from-a-submount\n");
  });

  test("a secret the host replaces by rename (as passwd(1) does) stays hidden in a running jail", async () => {
    // A bind-mount mask sits on the old file's dentry and vanishes with it; a whiteout does not.
    // The host's real /etc is never touched: in a private mount namespace of its own (unshare -m)
    // a scratch directory with a fake gshadow stands in for /etc, and the rename happens there.
    const etc = dir("rename-etc");
    for (const f of ["passwd", "group", "hostname", "nsswitch.conf", "ld.so.cache"]) {
      if (existsSync(`/etc/${f}`)) writeFileSync(`${etc}/${f}`, readFileSync(`/etc/${f}`));
    }
    writeFileSync(`${etc}/gshadow`, "fake-secret-1\n", { mode: 0o640 });
    const sync = dir("rename-sync");
    Bun.spawnSync(["mkfifo", `${sync}/go`]);
    const mark = marker();
    const wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /etc && exec "$@"', etc];
    const jail = new LiveJail(["run", "--bind", `${sync}:/sync`, "--", "/bin/sh", "-c",
      `echo ready-$(ls /etc/gshadow 2>&1 | grep -c 'No such')-${mark}; read x < /sync/go; ls /etc/gshadow 2>&1; echo done-${mark}`], { wrap });
    try {
      // Control: the jail is built on the scratch /etc and already hides the fake secret.
      expect(await jail.waitForLine(new RegExp(`ready-.*-${mark}`))).toBe(`ready-1-${mark}`);
      writeFileSync(`${etc}/gshadow.jx-test`, "fake-secret-2\n", { mode: 0o640 });
      renameSync(`${etc}/gshadow.jx-test`, `${etc}/gshadow`);
      writeFileSync(`${sync}/go`, "go\n");
      await jail.waitForLine(new RegExp(`done-${mark}`));
      expect(jail.output).toContain("No such file");
      expect(jail.output).not.toContain("fake-secret");
    } finally {
      await jail.dispose();
    }
  });

  test.each(["/root", "/home", "/var", "/work", "/srv", "/opt", "/mnt"])("%s is not there", (path) => {
    const r = sh(`ls -d ${path} 2>&1; echo rc=$?`);
    expect(r.stdout).toMatch(/rc=[12]\n$/);
  });

  test("the host's /tmp is not the jail's /tmp", () => {
    writeFileSync(`${scratch}/host-only`, "x");
    const r = sh(`ls ${scratch}/host-only 2>/dev/null; ls -A /tmp | wc -l`);
    expect(r.stdout).toBe("0\n");
  });
});

describe("read-only and writable places", () => {
  test.each(["/x", "/usr/x", "/etc/x", "/bin/x", "/proc/sys/kernel/hostname"])("writing %s fails", (path) => {
    const r = sh(`{ echo data > ${path}; } 2>&1; echo rc=$?`);
    expect(r.stdout).toMatch(/Read-only file system/);
    expect(r.stdout).toMatch(/rc=[12]\n$/);
  });

  test.each(["/tmp", "/run", "/dev/shm"])("%s is writable", (path) => {
    const r = sh(`echo data > ${path}/f && cat ${path}/f`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("data\n");
  });

  test("--bind SRC:DST is writable and the change is visible on the host", () => {
    const d = dir("rw");
    writeFileSync(`${d}/in`, "from-host\n");
    const r = sh("cat /data/in; echo from-jail > /data/out", ["--bind", `${d}:/data`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("from-host\n");
    expect(readFileSync(`${d}/out`, "utf8")).toBe("from-jail\n");
  });

  test("--ro-bind SRC is readable at the same path and not writable", () => {
    const d = dir("ro");
    writeFileSync(`${d}/in`, "ro-data\n");
    const r = sh(`cat ${d}/in; { echo x > ${d}/out; } 2>&1; echo rc=$?`, ["--ro-bind", d]);
    expect(r.stdout).toMatch(/^ro-data\n.*Read-only file system\nrc=[12]\n$/s);
    expect(existsSync(`${d}/out`)).toBe(false);
  });

  test("--bind a single file over an existing one", () => {
    const d = dir("file");
    writeFileSync(`${d}/one`, "1\n");
    const r = sh("cat /etc/hostname; echo 2 >> /etc/hostname", ["--bind", `${d}/one:/etc/hostname`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("1\n");
    expect(readFileSync(`${d}/one`, "utf8")).toBe("1\n2\n");
  });

  test("--tmpfs DST:size=N mounts an empty writable tmpfs with that size", () => {
    const r = sh("ls -A /scratch | wc -l; echo y > /scratch/y && cat /scratch/y; grep ' /scratch ' /proc/self/mountinfo", ["--tmpfs", "/scratch:size=1m"]);
    expect(r.code).toBe(0);
    const [count, y, mount] = lines(r.stdout);
    expect(count).toBe("0");
    expect(y).toBe("y");
    expect(mount).toMatch(/ - tmpfs .*size=1024k/);
    expect(mount).toMatch(/nosuid/);
    expect(mount).toMatch(/nodev/);
  });

  test("/tmp, /run and /dev/shm are sized by default (10% of RAM each); --tmpfs-size changes it, unlimited gives the kernel's half of RAM", () => {
    const ramPages = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]) / 4;
    const pagesOf = (flags: string[]) => lines(sh("for d in /tmp /run /dev/shm; do stat -f -c '%b %S' $d; done", flags).stdout).map((l) => {
      const [blocks, bsize] = l.split(" ").map(Number) as [number, number];
      return (blocks * bsize) / 4096;
    });
    for (const pages of pagesOf([])) expect(Math.abs(pages - Math.floor(ramPages / 10))).toBeLessThanOrEqual(1);
    expect(pagesOf(["--tmpfs-size", "8m"])).toEqual([2048, 2048, 2048]);
    for (const pages of pagesOf(["--tmpfs-size", "unlimited"])) expect(Math.abs(pages - Math.floor(ramPages / 2))).toBeLessThanOrEqual(1);
  });

  test("writing past the size gets ENOSPC: /tmp, /run, /dev/shm, and a --tmpfs without size=", () => {
    const script = ["/tmp", "/run", "/dev/shm", "/scratch"].map((d) => `dd if=/dev/zero of=${d}/fill bs=1M count=3 2>&1 | grep -o 'No space left on device' || echo filled-${d}`).join("; ");
    const r = sh(script, ["--tmpfs-size", "2m", "--tmpfs", "/scratch"]);
    expect(lines(r.stdout)).toEqual(Array(4).fill("No space left on device"));
    // control: the same writes fit in a larger size
    const big = sh(script.replace(/\|\| echo/g, "; echo"), ["--tmpfs-size", "8m", "--tmpfs", "/scratch"]);
    expect(lines(big.stdout)).toEqual(["filled-/tmp", "filled-/run", "filled-/dev/shm", "filled-/scratch"]);
  });

  test("without --chdir the program starts in jailx's directory when the jail has it, else in /", () => {
    const d = dir("cwd-bound");
    expect(sh("pwd", ["--bind", d], { cwd: d }).stdout).toBe(`${d}\n`);
    expect(sh("pwd", [], { cwd: d }).stdout).toBe("/\n");
  });

  test("--chdir sets the working directory", () => {
    const d = dir("cwd");
    const r = sh("pwd", ["--ro-bind", `${d}:/work-here`, "--chdir", "/work-here"]);
    expect(r.stdout).toBe("/work-here\n");
  });

  test("a bind to a new path beneath read-only /etc fails with one line that says what to do; over an existing path it works", () => {
    const f = `${dir("etcbind")}/one.conf`;
    writeFileSync(f, "one\n");
    const bad = sh("cat /etc/one.conf", ["--bind", `${f}:/etc/one.conf`]);
    expect(bad.code).toBe(125);
    expect(lines(bad.stderr)).toHaveLength(1);
    expect(bad.stderr).toContain("EROFS");
    expect(bad.stderr).toContain("bind over an existing path or choose another destination");
    expect(existsSync("/etc/one.conf")).toBe(false);
    const good = sh("cat /etc/hostname", ["--ro-bind", `${f}:/etc/hostname`]);
    expect(good.stdout).toBe("one\n");
  });

  test("--symlink creates a link inside the jail", () => {
    const r = sh("readlink /opt-link", ["--symlink", "/usr/share:/opt-link"]);
    expect(r.stdout).toBe("/usr/share\n");
  });

  test("--rootfs uses a prepared directory as the (read-only) root", () => {
    const root = dir("rootfs");
    mkdirSync(`${root}/usr`);
    mkdirSync(`${root}/etc`);
    for (const [l, t] of [["bin", "usr/bin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"], ["sbin", "usr/sbin"]]) symlinkSync(t!, `${root}/${l}`);
    writeFileSync(`${root}/etc/passwd`, "root:x:0:0:root:/:/bin/sh\n");
    writeFileSync(`${root}/hello.txt`, "prepared\n");
    const r = sh("cat /hello.txt; ls -A /etc; touch /new 2>&1; echo rc=$?", ["--rootfs", root, "--ro-bind", "/usr"]);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe("prepared");
    // Only the rootfs's own /etc: the host's (with its shadow file) is not bound.
    expect(out[1]).toBe("passwd");
    expect(r.stdout).toMatch(/Read-only file system\nrc=1\n$/);
    expect(existsSync(`${root}/new`)).toBe(false);
  });
});

describe("mount targets do not follow symlinks out of the new root", () => {
  test("a --rootfs symlink pointing at a host directory is not used to create a mount point on the host", () => {
    const host = dir("escape-target");
    const root = dir("rootfs-with-link");
    mkdirSync(`${root}/usr`, { recursive: true });
    symlinkSync(host, `${root}/link`);
    const r = sh("ls /link/sub", ["--rootfs", root, "--ro-bind", "/usr", "--ro-bind", "/usr/share:/link/sub"]);
    // Either refused (one line) or resolved inside the root; never a directory made on the host.
    expect(readdirSync(host)).toEqual([]);
    if (r.code !== 0) {
      expect(r.code).toBe(125);
      expect(lines(r.stderr)).toHaveLength(1);
    }
  });
});

describe("/proc", () => {
  test.each(["kcore", "keys", "timer_list", "sched_debug", "interrupts"])("/proc/%s reads nothing", (name) => {
    const r = sh(`cat /proc/${name} 2>/dev/null | wc -c`);
    expect(r.stdout).toBe("0\n");
  });

  test("host files that exist are masked by mounts, seen in the program's mountinfo from the host", async () => {
    const mark = marker();
    const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      const pid = programPid(jail.pid, mark);
      const mi = readFileSync(`/proc/${pid}/mountinfo`, "utf8");
      const points = lines(mi).map((l) => ({ at: l.split(" ")[4]!, opts: l.split(" ")[5]! }));
      for (const p of ["/proc/keys", "/proc/timer_list", "/proc/kcore", "/proc/sched_debug"])
        if (existsSync(p)) expect(points.some((m) => m.at === p && m.opts.startsWith("ro"))).toBe(true);
      expect(points.find((m) => m.at === "/proc/sys")?.opts).toMatch(/^ro,/);
      // The jail's root is its own read-only mount, not the host's root filesystem.
      const root = lines(mi).find((l) => l.split(" ")[4] === "/")!;
      expect(root.split(" ")[5]).toMatch(/^ro,/);
      // None of this leaked into the host's mount namespace.
      expect(hostMounts().some((m) => m.startsWith("/proc/keys "))).toBe(false);
    } finally {
      await jail.dispose();
    }
  });

  test("/proc/sys is read-only, /proc shows only the jail's processes", () => {
    const r = sh("{ echo 1 > /proc/sys/kernel/ns_last_pid; } 2>&1; echo rc=$?; ls -d /proc/[0-9]* | wc -l");
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/Read-only file system/);
    expect(Number(out.at(-1))).toBeLessThan(8);
  });
});

describe("/dev", () => {
  test("holds only the minimal set of nodes and links", () => {
    const r = sh("ls -A /dev");
    expect(lines(r.stdout).sort()).toEqual(
      ["fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"].sort(),
    );
  });

  test("the nodes work, and no disk device is reachable", () => {
    const r = sh("head -c 4 /dev/zero | wc -c; head -c 8 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok; readlink /dev/fd /dev/stdout; ls /dev/vda /dev/sda 2>&1 | wc -l");
    expect(lines(r.stdout)).toEqual(["4", "8", "null-ok", "/proc/self/fd", "/proc/self/fd/1", "2"]);
  });

  test("no device node can be made (no CAP_MKNOD by default)", () => {
    const r = sh("mknod /tmp/disk b 254 0 2>&1; echo rc=$?; ls /tmp");
    expect(r.stdout).toMatch(/Operation not permitted\nrc=1\n$/);
  });

  test("with --cap-add MKNOD, a device node made in a writable place cannot be opened (nodev)", () => {
    const r = sh("mknod /tmp/disk b 254 0 && head -c 1 /tmp/disk 2>&1; echo rc=$?", ["--cap-add", "MKNOD"]);
    expect(r.stdout).toMatch(/Permission denied\nrc=1\n$/);
  });
});

describe("the host's view", () => {
  test("the host's mount table does not change while a jail runs or after", async () => {
    const before = hostMounts();
    const mark = marker();
    const jail = new LiveJail(["run", "--tmpfs", "/extra", "--bind", `${scratch}:/data`, "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`]);
    try {
      await jail.waitForLine(/^ready$/);
      expect(hostMounts()).toEqual(before);
    } finally {
      await jail.dispose();
    }
    expect(hostMounts()).toEqual(before);
    // And nothing was created in the bound directory by the mount setup.
    expect(readdirSync(scratch).filter((n) => n === "extra" || n === "data")).toEqual([]);
  });
});

describe("a host with many mounts (a container host's hundreds)", () => {
  const HAVE_STRACE = Bun.which("strace") !== null;
  // In a private mount namespace of the test: 300 tmpfs mounts under a scratch directory, then
  // jailx under strace. The namespace (and its mounts) ends with the shell.
  test.skipIf(!HAVE_STRACE)("the supervisor reads its mount table once, and none of those mounts reaches the jail", () => {
    const dir = mkdtempSync(join(tmpdir(), "jailx-many-"));
    try {
      const script = `set -e; mount -t tmpfs jx-many-top "$1"; for i in $(seq 1 300); do mkdir "$1/$i"; mount -t tmpfs jx-many "$1/$i"; done
        strace -f -e trace=openat,open -o "$1.strace" "$2" run -- /bin/sh -c 'grep -c jx-many /proc/self/mountinfo || true'`;
      const r = Bun.spawnSync(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", dir, JAILX], { cwd: "/", stdout: "pipe", stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      expect(r.stdout.toString()).toBe("0\n");
      // the supervisor is the first process strace names (the jail's grep opens the file too)
      const trace = readFileSync(`${dir}.strace`, "utf8").split("\n");
      const supervisor = trace[0]!.split(" ")[0];
      const opens = trace.filter((l) => l.startsWith(`${supervisor} `) && l.includes('"/proc/self/mountinfo"'));
      expect(opens).toHaveLength(1);
    } finally {
      rmSync(`${dir}.strace`, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
