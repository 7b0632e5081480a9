// The unprivileged user for rootless tests. It is never added to the host's account files: each
// command runs as it through a private mount namespace (unshare -m) in which /etc is an overlay
// whose upper layer holds passwd, group, subuid and subgid with the user added, then setpriv(1)
// drops to it. newuidmap/newgidmap and jailx itself, started inside, see those files; the host's
// /etc never changes, and two test runs at once get two different users. A copy of dist/jailx
// sits where the user can execute it (the repository may not be reachable for other users).
// `installRootless()` returns a handle; call `cleanup()` in afterAll.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { JAILX } from "./jail.ts";

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** the user's /etc/subuid (= subgid) range inside the test's mount namespace */
  subStart: number;
  subCount: number;
}

/** A uid/gid that no host account or group uses (one per test process). */
function freeId(): number {
  const used = new Set<number>();
  for (const f of ["/etc/passwd", "/etc/group"]) {
    for (const line of readFileSync(f, "utf8").split("\n")) used.add(Number(line.split(":")[2]));
  }
  for (let id = 61000 + (process.pid % 900); ; id++) if (!used.has(id)) return id;
}

export interface Rootless {
  user: TestUser;
  /** path of the copy of jailx that the user can execute */
  binary: string;
  /** prefix that runs a command as the user */
  wrap: string[];
  /** environment for the user's processes */
  env: Record<string, string>;
  cleanup(): void;
}

const read = (f: string) => (existsSync(f) ? readFileSync(f, "utf8") : "");
const line = (text: string, add: string) => `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${add}\n`;

/** Make the user's scratch (binary, home, the /etc overlay's upper layer) and the wrap prefix. */
export function installRootless(): Rootless {
  const dir = mkdtempSync("/tmp/jxbin-");
  chmodSync(dir, 0o755);
  const id = freeId();
  const name = `jxtest${process.pid}`;
  const home = `${dir}/home`;
  mkdirSync(home, { mode: 0o755 });
  Bun.spawnSync(["chown", `${id}:${id}`, home]);
  // A subordinate range far above what useradd hands out (100000 + n·65536), one per test process.
  const subStart = 1_000_000_000 + (process.pid % 1000) * 65536;
  const up = `${dir}/etc-up`;
  mkdirSync(up);
  mkdirSync(`${dir}/etc-work`);
  writeFileSync(`${up}/passwd`, line(read("/etc/passwd"), `${name}:x:${id}:${id}::${home}:/bin/sh`), { mode: 0o644 });
  writeFileSync(`${up}/group`, line(read("/etc/group"), `${name}:x:${id}:`), { mode: 0o644 });
  writeFileSync(`${up}/subuid`, line(read("/etc/subuid"), `${name}:${subStart}:65536`), { mode: 0o644 });
  writeFileSync(`${up}/subgid`, line(read("/etc/subgid"), `${name}:${subStart}:65536`), { mode: 0o644 });
  const binary = `${dir}/jailx`;
  copyFileSync(JAILX, binary);
  chmodSync(binary, 0o755);
  const enter = 'd=$0; mount -t overlay jx-test-etc -o "lowerdir=/etc,upperdir=$d/etc-up,workdir=$d/etc-work" /etc && exec setpriv "$@"';
  return {
    user: { name, uid: id, gid: id, home, subStart, subCount: 65536 },
    binary,
    wrap: ["unshare", "-m", "--propagation", "private", "sh", "-c", enter, dir, `--reuid=${id}`, `--regid=${id}`, "--init-groups", "--"],
    // Only what a login would give: none of root's variables (HOME, XDG_*) leak to the user.
    env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: home, USER: name, LOGNAME: name, LANG: "C.UTF-8" },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Run a command (not jailx) as the user, e.g. to prepare files. */
export function runAsUser(r: Rootless, argv: string[]): { code: number; stdout: string; stderr: string } {
  const p = Bun.spawnSync([...r.wrap, ...argv], { cwd: "/tmp", env: r.env, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** RunOpts for jailx()/sh()/LiveJail that run the copied binary as the user. */
export function asUser(r: Rootless): { wrap: string[]; binary: string; env: Record<string, string>; inheritEnv: false } {
  return { wrap: r.wrap, binary: r.binary, env: r.env, inheritEnv: false };
}
