// Helpers for the end-to-end tests of servers under their built-in profiles (Debian's stock
// packages): a private mount namespace that puts scratch copies over the directories a server
// writes on the host (so tests never change the host), free ports, fetch with a deadline, and
// the jail's processes and mounts as seen from the host.
import { mkdtempSync, readFileSync } from "node:fs";
import { cmdline, descendants } from "./jail.ts";

/** A scratch directory, and the wrapper that binds `binds` (host path → scratch copy) first. */
export function privateMounts(binds: Record<string, string>): string[] {
  const script = Object.entries(binds).map(([dst, src]) => `mount --bind '${src}' '${dst}' || exit 125`).join("; ");
  return ["unshare", "-m", "--propagation", "private", "--", "/bin/sh", "-c", `${script}; exec "$@"`, "sh"];
}

/** Copy a host directory (owners and modes kept) into a fresh scratch directory. */
export function scratchCopy(path: string, prefix: string): string {
  const dir = mkdtempSync(`/tmp/${prefix}-`);
  const r = Bun.spawnSync(["cp", "-a", `${path}/.`, dir]);
  if (r.exitCode !== 0) throw new Error(`cp -a ${path} failed`);
  Bun.spawnSync(["chown", "--reference", path, dir]);
  Bun.spawnSync(["chmod", "--reference", path, dir]);
  return dir;
}

/** Whether nothing listens on the port (IPv4 any address). */
export function portFree(port: number): boolean {
  try {
    const s = Bun.listen({ hostname: "0.0.0.0", port, socket: { data() {} } });
    s.stop(true);
    return true;
  } catch {
    return false;
  }
}

/** A port the kernel says is free now. */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** GET with retries while the server is not listening yet, within a deadline. */
export async function get(url: string, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await Bun.sleep(25);
    }
  }
}

/** Descendants of `pid` whose argv[0] matches. */
export function processesNamed(pid: number, argv0: RegExp): number[] {
  return descendants(pid).filter((p) => argv0.test(cmdline(p)?.[0] ?? ""));
}

/** Mount points of a process with their read-only flag (per-mount options). */
export function mountsOf(pid: number): { path: string; readonly: boolean }[] {
  return readFileSync(`/proc/${pid}/mountinfo`, "utf8").trim().split("\n").map((l) => {
    const f = l.split(" ");
    return { path: f[4]!.replace(/\\040/g, " "), readonly: f[5]!.split(",").includes("ro") };
  });
}

/** The user id a process runs as (real uid). */
export function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

export function hostUid(name: string): number {
  const r = Bun.spawnSync(["id", "-u", name], { stdout: "pipe" });
  return Number(r.stdout.toString().trim());
}

export function hasProgram(path: string): boolean {
  return Bun.spawnSync(["test", "-x", path]).exitCode === 0;
}
