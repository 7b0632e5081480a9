// The unprivileged user for rootless tests: created if missing, commands run as it through
// setpriv(1), and a copy of dist/jailx placed where it can execute it (the repository may not
// be reachable for other users). `installRootless()` returns a handle; call `cleanup()` in afterAll.
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { JAILX } from "./jail.ts";

export const TEST_USER = "jxtest";

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** true when this call created the user (then cleanup removes it again) */
  created?: boolean;
}

function lookup(name: string): TestUser | null {
  const r = Bun.spawnSync(["getent", "passwd", name], { stdout: "pipe" });
  if (r.exitCode !== 0) return null;
  const f = r.stdout.toString().trim().split(":");
  return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "/" };
}

/** The test user, created with `useradd -m` when missing. Runs as root. */
export function ensureTestUser(name = TEST_USER): TestUser {
  const found = lookup(name);
  if (found) return found;
  const r = Bun.spawnSync(["useradd", "-m", "-s", "/bin/sh", name], { stdout: "pipe", stderr: "pipe" });
  // A concurrent test process may have created it in the meantime (exit 9: already exists).
  if (r.exitCode !== 0 && r.exitCode !== 9) throw new Error(`useradd ${name} failed: ${r.stderr.toString()}`);
  const made = lookup(name);
  if (!made) throw new Error(`user ${name} missing after useradd`);
  return { ...made, created: r.exitCode === 0 };
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

/** Create the user (if needed) and a 0755 temp dir under /tmp holding a copy of dist/jailx. */
export function installRootless(): Rootless {
  const user = ensureTestUser();
  const dir = mkdtempSync("/tmp/jxbin-");
  chmodSync(dir, 0o755);
  const binary = `${dir}/jailx`;
  copyFileSync(JAILX, binary);
  chmodSync(binary, 0o755);
  return {
    user,
    binary,
    wrap: ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "--"],
    // Only what a login would give: none of root's variables (HOME, XDG_*) leak to the user.
    env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: user.home, USER: user.name, LOGNAME: user.name, LANG: "C.UTF-8" },
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      // Leave no user behind that this run created (one that existed before stays).
      if (user.created) Bun.spawnSync(["userdel", "-r", user.name], { stdout: "ignore", stderr: "ignore" });
    },
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
