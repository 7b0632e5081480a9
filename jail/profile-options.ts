// A loaded profile → `jailx run` options, and those merged with the command line's flags.
//
// Learned keys become the run options that enforce them:
//   syscalls      → --seccomp-allow … with --seccomp-default-action errno (an allow-list: EPERM)
//   read, exec    → --ro-bind of each path (a directory without a trailing '/': an empty
//                   read-only directory, --tmpfs PATH:ro), write → --bind (or --tmpfs for "tmpfs:PATH"), and
//                   --no-system-binds: only these paths exist (plus /proc, a minimal /dev, a
//                   private /tmp and /run), so anything else is ENOENT, not EACCES
//   network       → --net (none and loopback: a namespace with only lo; host: the host's)
//   capabilities  → --cap-drop ALL with --cap-add of each (the exact kept set)
import { UsageError } from "../sys/errors.ts";
import { RUN_OPTIONS, type ParsedOptions } from "./options.ts";
import { SYSTEM_PATHS } from "./mounts.ts";
import type { Profile, Setting } from "./profile.ts";

const SPEC = new Map(RUN_OPTIONS.map((o) => [o.name, o]));

export interface ProfileOptions {
  options: ParsedOptions;
  /** option name → "PROFILE: key 'KEY'", for messages about a bad value */
  origin: Record<string, string>;
  /** view paths the host does not have (skipped: the profile may list several distributions' paths) */
  skipped: string[];
}

export interface ViewHost {
  /** the directory jailx was started in: `$PWD` in view paths */
  cwd: string;
  stat(path: string): "dir" | "file" | "other" | null;
  readlink(path: string): string | null;
}

export function profileOptions(p: Profile, host: ViewHost): ProfileOptions {
  const options: ParsedOptions = {};
  const origin: Record<string, string> = {};
  const skipped: string[] = [];
  const from = (key: string) => `profile ${p.origin[key]}: key '${key}'`;
  const add = (name: string, values: string[], key: string) => {
    if (values.length === 0) return;
    options[name] = [...((options[name] as string[] | undefined) ?? []), ...values];
    origin[name] ??= from(key);
  };
  const set = (name: string, value: string | boolean, key: string) => {
    options[name] = value;
    origin[name] = from(key);
  };
  const s = p.settings;
  for (const [key, value] of Object.entries(s)) {
    const spec = SPEC.get(key);
    if (!spec) continue;
    if (spec.repeat) add(key, value as string[], key);
    else set(key, value as string | boolean, key);
  }
  if (s.network !== undefined) set("net", s.network === "host" ? "host" : "none", "network");
  if (s.capabilities !== undefined) {
    options["cap-drop"] = ["ALL", ...((options["cap-drop"] as string[] | undefined) ?? [])];
    origin["cap-drop"] = from("capabilities");
    add("cap-add", s.capabilities as string[], "capabilities");
  }
  if (s.syscalls !== undefined) {
    add("seccomp-allow", s.syscalls as string[], "syscalls");
    // An allow-list: what the list does not name fails with EPERM (kill or log by flag).
    if (options["seccomp-default-action"] === undefined) set("seccomp-default-action", "errno", "syscalls");
  }
  const view = (["read", "exec", "write"] as const).filter((k) => s[k] !== undefined);
  if (view.length > 0) {
    set("no-system-binds", true, view[0]!);
    // The host's top-level links (/lib → usr/lib on merged-/usr systems) keep the paths
    // programs hard-code (the dynamic loader's /lib64/ld-linux-x86-64.so.2) working; a link
    // leads nowhere unless its target is listed too.
    for (const top of SYSTEM_PATHS) {
      const link = host.readlink(top);
      if (link !== null) add("symlink", [`${link}:${top}`], view[0]!);
    }
    // Every path of the view, to tell whether a directory listed without '/' has entries below.
    const below = view.flatMap((key) => (s[key] as string[]).map((e) => (e.startsWith("tmpfs:") ? e.slice(6) : e).replace(/\/+$/, "")));
    for (const key of view)
      for (const entry of s[key] as string[]) {
        if (key === "write" && entry.startsWith("tmpfs:")) {
          add("tmpfs", [entry.slice(6).replace(/\/+$/, "") || "/"], key);
          continue;
        }
        // "$PWD/…": the directory jailx runs in. Never the whole host: from / it stays out.
        if (entry.startsWith("$PWD") && host.cwd === "/") {
          skipped.push(entry);
          continue;
        }
        const path = (entry.startsWith("$PWD") ? host.cwd + entry.slice(4) : entry).replace(/\/+$/, "") || "/";
        if (host.stat(path) === null) {
          skipped.push(entry);
          continue;
        }
        // A directory listed without '/' in read or exec is the directory itself, not its
        // content (what `jailx learn` writes for a directory only looked at): an empty
        // read-only directory; left to the entries below it when there are any (their mount
        // points make it).
        if (key !== "write" && !entry.endsWith("/") && host.stat(path) === "dir") {
          const raw = entry.replace(/\/+$/, "");
          if (!below.some((b) => b.startsWith(`${raw}/`))) add("tmpfs", [`${path}:ro`], key);
          continue;
        }
        add(key === "write" ? "bind" : "ro-bind", [path], key);
      }
  }
  return { options, origin, skipped };
}

/** Flags override the profile; repeatable flags come after the profile's values. */
export function mergeFlags(profile: ParsedOptions, flags: ParsedOptions): ParsedOptions {
  const out: ParsedOptions = { ...profile };
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined) continue;
    out[k] = SPEC.get(k)?.repeat ? [...((profile[k] as string[] | undefined) ?? []), ...(v as string[])] : v;
  }
  return out;
}

/**
 * A plan error about an option the profile set (and no flag did) names the profile file and
 * key: "profile /x/p.toml: key 'memory': --memory '12q': use …".
 */
export function blameProfile(err: unknown, origin: Record<string, string>, flags: ParsedOptions): unknown {
  if (!(err instanceof UsageError)) return err;
  const m = /--([a-z][a-z0-9-]*)/.exec(err.message);
  const name = m?.[1];
  if (!name || !origin[name] || flags[name] !== undefined) return err;
  return new UsageError(`${origin[name]}: ${err.message}`);
}

/** The merged settings as TOML (for `jailx profile show`), in schema order, learned keys last. */
export function profileToToml(p: Profile): string {
  const order = [...RUN_OPTIONS.map((o) => o.name), "syscalls", "read", "exec", "write", "network", "listen", "connect", "capabilities"];
  const lines: string[] = [];
  const keys = Object.keys(p.settings).filter((k) => k !== "learned").sort((a, b) => order.indexOf(a) - order.indexOf(b));
  for (const k of keys) lines.push(`${k} = ${tomlValue(p.settings[k]!)}${p.sources.length > 1 ? `   # from ${p.origin[k]}` : ""}`);
  const learned = p.settings.learned as Record<string, unknown> | undefined;
  if (learned) {
    lines.push("", "[learned]");
    for (const [k, v] of Object.entries(learned)) lines.push(`${k} = ${JSON.stringify(v)}`);
  }
  return lines.join("\n") + "\n";
}

function tomlValue(v: Setting): string {
  if (Array.isArray(v)) return v.length <= 4 ? JSON.stringify(v).replace(/","/g, '", "') : `[\n${v.map((x) => `  ${JSON.stringify(x)},`).join("\n")}\n]`;
  return JSON.stringify(v);
}
