// `jailx run` on a kernel without mount_setattr (Linux 5.2–5.11, e.g. Debian 11's 5.10). This
// kernel has it, so the binary runs under a seccomp filter that makes mount_setattr fail with
// ENOSYS (tests/helpers/no-mount-setattr.c): the supervisor, the stage and the jail all see what
// they see on 5.10, and the view's flags are set with mount(2) remounts after each attach. Every
// boundary is checked from inside the jail and from the host, on the stage path and on the Bun
// path (the supervisor run single-threaded, jail/child.ts called directly), as root and rootless.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { JAILX, LiveJail, hostMounts, jailx, lines, marker, processesWith, programPid, waitUntil, type Result, type RunOpts } from "../helpers/jail.ts";
import { asUser, installRootless, type Rootless } from "../helpers/user.ts";
import { describeIf, feature } from "../helpers/kernel.ts";
// the environment that makes `jailx run` take the Bun path (its supervisor single-threaded)
import { SINGLE_THREAD_ENV as SINGLE_THREAD } from "../../sys/reexec.ts";

const ROOT_DIR = `${import.meta.dir}/../..`;

// Built now (at load time) so that the probe decides which blocks run, visibly.
const scratch = mkdtempSync("/tmp/jx-nosetattr-");
chmodSync(scratch, 0o755);
const NOSA = `${scratch}/no-mount-setattr`;
const built = Bun.which("gcc") ? Bun.spawnSync(["gcc", "-O1", "-Wall", "-o", NOSA, `${ROOT_DIR}/tests/helpers/no-mount-setattr.c`], { stderr: "pipe" }) : null;
const probe = built?.exitCode === 0 ? Bun.spawnSync([NOSA, "--probe"]).exitCode : -1;
const nosa = feature(probe === 0, built === null ? "no gcc to build the seccomp launcher" : built.exitCode !== 0 ? `the seccomp launcher did not build: ${built.stderr}` : "mount_setattr does not fail with ENOSYS under the launcher's filter");

let rl: Rootless | undefined;
beforeAll(() => {
  rl = installRootless();
});
afterAll(() => {
  rl?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

/** A directory in the scratch, owned by `owner` (the rootless user's binds must be theirs). */
function dir(name: string, owner = 0): string {
  const d = `${scratch}/${name}`;
  mkdirSync(d, { recursive: true, mode: 0o755 });
  chownSync(d, owner, owner);
  return d;
}

type Who = "root" | "rootless";
type Path = "stage" | "bun";

/** RunOpts that start the binary under the filter (as root: the launcher needs no no_new_privs). */
function opts(who: Who, path: Path, before: string[] = []): RunOpts {
  const base: RunOpts = who === "root" ? {} : asUser(rl!);
  const env = { ...(base.env ?? {}), ...(path === "bun" ? SINGLE_THREAD : {}) };
  return { ...base, env, wrap: [...before, NOSA, ...(base.wrap ?? [])] };
}

const run = (who: Who, path: Path, flags: string[], script: string, before?: string[]): Result =>
  jailx(["run", ...flags, "--", "/bin/sh", "-c", script], opts(who, path, before));

/** mountinfo lines as mount point → per-mount options. */
function flagsByMount(mountinfo: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const l of lines(mountinfo)) {
    const f = l.split(" ");
    if (f.length < 10) continue; // not a mountinfo line (the script's own output)
    m.set(f[4]!, f[5]!.split(","));
  }
  return m;
}

describeIf(nosa, "the filter and the op list", () => {
  test("under the filter mount_setattr is ENOSYS, and the op list remounts instead; without it, the op list uses mount_setattr", () => {
    expect(Bun.spawnSync([NOSA, "--probe"]).exitCode).toBe(0);
    const ops = (wrap: string[]) => jailx(["run", "--dry-run", "--verbose", "--ro-bind", "/srv:/srv", "--", "/bin/true"], { wrap }).stdout;
    const classic = ops([NOSA]);
    expect(classic).toMatch(/SYSCALL mount\(.*# mount \/usr MS_REMOUNT\|MS_BIND\|MS_RDONLY\|MS_NOSUID\|MS_NODEV/);
    expect(classic).toMatch(/# mount \/ MS_REMOUNT\|MS_BIND\|MS_RDONLY\|MS_NOSUID\|MS_NODEV/);
    expect(classic).not.toMatch(/SYSCALL mount_setattr\(/);
    const modern = ops([]);
    expect(modern).toMatch(/SYSCALL mount_setattr\(/);
    expect(modern).not.toContain("MS_REMOUNT");
  });
});

for (const who of ["root", "rootless"] as const)
  for (const path of ["stage", "bun"] as const)
    describeIf(nosa, `without mount_setattr, ${who}, ${path} path`, () => {
      test("it runs, on the path it should (the stage compiles its ops; the Bun path does not)", () => {
        const r = run(who, path, ["--verbose"], "echo ok");
        expect(r.stdout).toBe("ok\n");
        expect(r.code).toBe(0);
        if (path === "stage") expect(r.stderr).toMatch(/compiled \(\d+ operations\)/);
        else expect(r.stderr).not.toContain("operations)");
      });

      test("system view and --ro-bind read-only (EROFS), --bind writable (seen from the host), /etc secrets hidden", () => {
        const owner = who === "root" ? 0 : rl!.user.uid;
        const ro = dir(`ro-${who}-${path}`, owner), rw = dir(`rw-${who}-${path}`, owner);
        writeFileSync(`${ro}/f`, "hi\n");
        const r = run(who, path, ["--ro-bind", `${ro}:/ro`, "--bind", `${rw}:/rw`],
          "touch /usr/jx-probe; touch /ro/x; touch /jx-probe; echo w > /rw/written && echo rw-ok; cat /ro/f; " +
          "for f in /etc/shadow /etc/gshadow /etc/sudoers; do [ -e $f ] && echo visible:$f; done; [ -r /etc/passwd ] && echo etc-ok");
        expect(r.stderr.match(/Read-only file system/g)?.length).toBe(3);
        expect(lines(r.stdout)).toEqual(["rw-ok", "hi", "etc-ok"]);
        expect(readFileSync(`${rw}/written`, "utf8")).toBe("w\n");
        expect(existsSync(`${ro}/x`)).toBe(false);
        expect(existsSync("/usr/jx-probe")).toBe(false);
      });

      test("every mount is nosuid; read-only and nodev where promised, seen inside and from the host", async () => {
        const mark = marker();
        const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; cat /proc/self/mountinfo; echo ready; while :; do sleep 1; done`], opts(who, path));
        try {
          await jail.waitForLine(/^ready$/);
          const inside = flagsByMount(jail.output);
          const outside = flagsByMount(readFileSync(`/proc/${programPid(jail.pid, mark)}/mountinfo`, "utf8"));
          for (const view of [inside, outside]) {
            expect([...view].filter(([, o]) => !o.includes("nosuid")).map(([p]) => p)).toEqual([]);
            for (const p of ["/", "/usr", "/etc", "/proc/sys"]) expect([p, ...view.get(p)!.filter((o) => o === "ro" || o === "nodev")]).toEqual([p, "ro", "nodev"]);
            for (const p of ["/tmp", "/run", "/dev/shm"]) expect([p, ...view.get(p)!.filter((o) => o === "rw" || o === "nodev")]).toEqual([p, "rw", "nodev"]);
            expect(view.get("/dev/null")).toContain("ro");
            expect(view.get("/dev/null")).not.toContain("nodev");
            expect(view.get("/proc")).toContain("noexec");
          }
        } finally {
          await jail.dispose();
        }
      });

      test("/proc: masked entries are empty, /proc/sys cannot be written", () => {
        const r = run(who, path, [], "wc -c < /proc/kallsyms; ls /proc/acpi 2>/dev/null | wc -l; echo 1 > /proc/sys/kernel/domainname || echo sys-refused; grep -c ' /proc/kallsyms ' /proc/self/mountinfo");
        expect(lines(r.stdout)).toEqual(["0", "0", "sys-refused", "1"]);
        // control: the host's kallsyms has content
        expect(readFileSync("/proc/kallsyms", "utf8").length).toBeGreaterThan(0);
      });

      test("a host mount beneath a read-only bind is read-only in the jail and keeps its own (locked) flags; the host's mount is unchanged", () => {
        // A noexec tmpfs mounted beneath the bound directory, in a private mount namespace of its
        // own (the host's table never changes). In a user namespace noexec is locked: a remount
        // without it would be refused (EPERM).
        const tree = dir(`tree-${who}-${path}`, who === "root" ? 0 : rl!.user.uid);
        mkdirSync(`${tree}/sub`);
        const before = ["unshare", "-m", "--propagation", "private", "sh", "-c",
          'mount -t tmpfs -o noexec,size=1m jx-sub "$0/sub" && chmod 0777 "$0/sub" && "$@"; st=$?; touch "$0/sub/host-side" && grep " $0/sub " /proc/self/mountinfo >&2; exit $st', tree];
        const r = run(who, path, ["--ro-bind", `${tree}:/t`], "touch /t/sub/x; grep ' /t/sub ' /proc/self/mountinfo | cut -d' ' -f6", before);
        expect(r.stderr).toContain("Read-only file system");
        expect(r.stdout.trim().split(",")).toEqual(expect.arrayContaining(["ro", "nosuid", "nodev", "noexec"]));
        expect(r.code).toBe(0);
        // from the host (its private namespace): still writable, not made read-only there
        expect(r.stderr).toMatch(/ rw,noexec/);
      });

      test("nothing is left behind: processes, the jail's cgroup, mounts in the caller's namespace", async () => {
        const mountsBefore = hostMounts();
        const mark = marker();
        const jail = new LiveJail(["run", "--", "/bin/sh", "-c", `: ${mark}; echo ready; while :; do sleep 1; done`], opts(who, path));
        let cgroups: string[] = [];
        try {
          await jail.waitForLine(/^ready$/);
          const pid = programPid(jail.pid, mark);
          const mine = readFileSync("/proc/self/cgroup", "utf8");
          cgroups = lines(readFileSync(`/proc/${pid}/cgroup`, "utf8")).filter((l) => !mine.includes(l)).map((l) => {
            const [, ctrl, p] = l.split(":") as [string, string, string];
            const root = ctrl === "" ? (existsSync("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup") : `/sys/fs/cgroup/${ctrl.replace(/^name=/, "").split(",")[0]}`;
            return `${root}${p}`;
          });
          if (who === "root") expect(cgroups.length).toBeGreaterThan(0);
          for (const cg of cgroups) expect(existsSync(cg)).toBe(true);
          jail.kill("SIGKILL");
        } finally {
          await jail.dispose();
        }
        await waitUntil(() => processesWith(mark).length === 0, 20_000, "the jail's processes to end");
        await waitUntil(() => cgroups.every((cg) => !existsSync(cg)), 20_000, "the jail's cgroups to go");
        expect(hostMounts()).toEqual(mountsBefore);
      });
    });

test("the binary under test is the built one", () => {
  expect(existsSync(JAILX)).toBe(true);
});
