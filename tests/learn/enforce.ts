// Enforcing a learned profile with today's `jailx run` flags, for the completeness tests: only
// the profile's paths are bound (--no-system-binds), its syscalls are the allow-list (unlisted
// ones kill, so a missed one cannot go unnoticed), its capabilities the only ones kept, and its
// network decides the namespace. When the binary has `--profile` (the profiles branch), the
// tests use that too.
import { lstatSync, readlinkSync } from "node:fs";
import { SYSTEM_PATHS } from "../../jail/mounts.ts";

export interface ProfileData {
  syscalls: string[];
  read: string[];
  write: string[];
  exec: string[];
  network: string;
  capabilities: string[];
  "ro-bind"?: string[];
  bind?: string[];
}

export function parseProfileText(text: string): ProfileData {
  return Bun.TOML.parse(text) as unknown as ProfileData;
}

const strip = (p: string) => (p.length > 1 ? p.replace(/\/$/, "") : p);

export function enforceFlags(p: ProfileData, action = "kill"): string[] {
  const flags = ["--no-system-binds", "--seccomp-default-action", action];
  // The top-level links of a merged-/usr system (/lib64 → usr/lib64), as every jail has them.
  for (const s of SYSTEM_PATHS) {
    try {
      if (lstatSync(s).isSymbolicLink()) flags.push("--symlink", `${readlinkSync(s)}:${s}`);
    } catch {}
  }
  for (const s of p.syscalls) flags.push("--seccomp-allow", s);
  for (const r of new Set([...p.read, ...p.exec].map(strip))) flags.push("--ro-bind", r);
  for (const w of p.write) flags.push(...(w.startsWith("tmpfs:") ? ["--tmpfs", w.slice(6)] : ["--bind", strip(w)]));
  for (const b of p["ro-bind"] ?? []) flags.push("--ro-bind", b);
  for (const b of p.bind ?? []) flags.push("--bind", b);
  if (p.network !== "host") flags.push("--net", "none");
  flags.push("--cap-drop", "ALL");
  for (const c of p.capabilities) flags.push("--cap-add", c);
  return flags;
}
