// Talking to systemd (PID 1, or the user's manager) through its own command-line tools
// (systemctl, busctl), so jailx carries no D-Bus implementation. Used only for cgroup limits on
// a pure v2 host run by systemd (see docs/CGROUPS.md). Synchronous fork+exec: the supervisor is
// single-threaded and must stay so until it clones.
import * as fs from "node:fs";
import { c } from "./ffi.ts";
import * as proc from "./proc.ts";

export interface ToolResult {
  code: number;
  /** stdout and stderr, interleaved */
  out: string;
}

const TOOL_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/** Whether systemd is the init system (the check sd_booted() does). */
export function systemdRunning(): boolean {
  return fs.existsSync("/run/systemd/system");
}

/** fork + exec a systemd tool from the host's standard directories; its output is returned. */
export function runTool(argv: readonly string[], env: readonly string[] = environment()): ToolResult {
  // A multi-threaded process (the stage path of `jailx run`) must not run JavaScript in a forked
  // child: Bun's own spawn then.
  if (proc.threadCount() > 1) {
    const path = TOOL_DIRS.map((d) => `${d}/${argv[0]}`).find((p) => fs.existsSync(p));
    if (!path) return { code: 127, out: `${argv[0]}: not found` };
    const r = Bun.spawnSync([path, ...argv.slice(1)], { env: Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])), stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode ?? 128 + (r.signalCode ? 9 : 0), out: (r.stdout.toString() + r.stderr.toString()).trim() };
  }
  const [r, w] = proc.pipe();
  proc.prepareForFork();
  const pid = proc.fork();
  if (pid === 0) {
    c.dup3(w, 1, 0);
    c.dup3(w, 2, 0);
    proc.resetSignalsForExec();
    for (const dir of TOOL_DIRS) proc.execve(`${dir}/${argv[0]}`, argv, env);
    proc.exitNow(127);
  }
  proc.closeFd(w);
  const out = proc.readToEnd(r);
  proc.closeFd(r);
  const waited = proc.waitPid(pid);
  return { code: waited ? proc.shellStatus(waited) : 127, out: out.trim() };
}

/** What the tools need from our environment: the user bus address and a locale-free C output. */
function environment(): string[] {
  const keep = ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "PATH", "HOME"];
  const env = keep.filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  const uid = process.getuid?.() ?? 0;
  // su/sudo may drop XDG_RUNTIME_DIR; the user manager's bus lives in /run/user/UID anyway.
  if (process.env.XDG_RUNTIME_DIR === undefined && uid !== 0 && fs.existsSync(`/run/user/${uid}`)) env.push(`XDG_RUNTIME_DIR=/run/user/${uid}`);
  return [...env, "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"];
}

let version: number | null | undefined;

/** systemd's version number ("systemd 252 (252.36-1~deb12u1)" → 252), or null without systemctl. */
export function systemdVersion(): number | null {
  if (version !== undefined) return version;
  const r = runTool(["systemctl", "--version"]);
  const m = /^systemd (\d+)/.exec(r.out);
  version = r.code === 0 && m ? Number(m[1]) : null;
  return version;
}

/** Whether the user's manager can be reached (its bus socket exists). */
export function userBusPath(uid: number): string | null {
  const addr = process.env.DBUS_SESSION_BUS_ADDRESS;
  const m = addr ? /unix:path=([^,;]+)/.exec(addr) : null;
  const path = m?.[1] ?? `${process.env.XDG_RUNTIME_DIR ?? `/run/user/${uid}`}/bus`;
  return fs.existsSync(path) ? path : null;
}

/** `systemctl show -P Delegate UNIT`: whether the unit has Delegate= on. */
export function unitDelegates(unit: string, user: boolean): boolean {
  const r = runTool(["systemctl", ...(user ? ["--user"] : []), "show", "-P", "Delegate", unit]);
  return r.code === 0 && r.out === "yes";
}

/** One property of a transient unit, in busctl's argument syntax: name, signature, values. */
export type UnitProperty = [name: string, signature: string, ...values: string[]];

/**
 * StartTransientUnit over D-Bus (busctl): a scope holding the processes in `PIDs`. Returns null
 * on success, else busctl's message. The scope starts synchronously in PID 1 when the job runs;
 * the caller waits for the process to show up in it.
 */
export function startTransientScope(name: string, user: boolean, properties: UnitProperty[]): string | null {
  const args = [
    "busctl", ...(user ? ["--user"] : []), "--quiet", "call",
    "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
    "StartTransientUnit", "ssa(sv)a(sa(sv))", name, "fail", String(properties.length),
    ...properties.flat(), "0",
  ];
  const r = runTool(args);
  return r.code === 0 ? null : r.out.split("\n")[0] || `busctl exited with status ${r.code}`;
}
