// A learned profile as TOML (written with a comment per section), read back for --merge.
import { UsageError } from "../../sys/errors.ts";
import { CARRIED_OPTIONS, collapsePaths, type Network, type Profile } from "./profile.ts";
import { expandProfileSyscalls, groupSyscalls } from "./syscall-groups.ts";

/**
 * A TOML basic string. JSON's escapes are TOML's, but JSON leaves DEL and the C1 controls raw,
 * which TOML forbids: paths come from the jailed program and may hold any byte but NUL.
 */
export const q = (s: string) => JSON.stringify(s).replace(/[\x7f-\x9f\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** Comment text on one line: no line breaks or control characters. */
const line = (s: string) => s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, "?");

function list(key: string, items: readonly string[], perLine = false): string {
  if (items.length === 0) return `${key} = []`;
  if (!perLine && items.join(", ").length < 80) return `${key} = [${items.map(q).join(", ")}]`;
  return `${key} = [\n${items.map((i) => `  ${q(i)},`).join("\n")}\n]`;
}

/** Short words (syscall names) filled into lines of about 96 columns. */
function wrapped(key: string, items: readonly string[]): string {
  const lines: string[] = [];
  let cur = "";
  for (const w of items.map((i) => `${q(i)},`)) {
    if (cur && cur.length + 1 + w.length > 94) {
      lines.push(cur);
      cur = "";
    }
    cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return `${key} = [\n${lines.map((l) => `  ${l}`).join("\n")}\n]`;
}

export function renderProfile(p: Profile): string {
  const out: string[] = [];
  const comment = (...lines: string[]) => out.push(...lines.map((l) => `# ${line(l)}`));
  const notes = (k: string) => comment(...(p.notes[k] ?? []));
  comment(`Learned by jailx learn from: ${p.learned.programs.join(" | ")}`,
    "Enforce with: jailx run --profile THIS-FILE -- PROGRAM ...   (extend with: jailx learn --merge THIS-FILE -o THIS-FILE ...)");
  out.push("");
  const carried = Object.entries(p.options);
  if (carried.length) {
    comment("How the program was started while learning (run options; flags still override them).");
    for (const [k, v] of carried) out.push(`${k} = ${typeof v === "boolean" ? String(v) : q(v)}`);
    out.push("");
  }
  comment("System calls: an allow-list (anything else fails with EPERM; --seccomp-log names it).",
    "@default, read/write/close/lseek (+v, p*64) and madvise are always listed: learning lets them through unobserved.");
  out.push(wrapped("syscalls", p.syscalls), "");
  comment("Files read (a trailing / means the directory and everything below it).");
  notes("read");
  out.push(list("read", p.read, true), "");
  comment("Executed, or mapped executable (programs, dynamic loader, shared libraries).");
  out.push(list("exec", p.exec, true), "");
  comment("Written: writable binds of exactly the directories (or files) written; tmpfs: a private scratch.");
  notes("write");
  out.push(list("write", p.write, true), "");
  if (p["ro-bind"].length || p.bind.length) {
    comment("Binds whose path in the jail differs from the host's (from the learning run's --ro-bind/--bind).");
    if (p["ro-bind"].length) out.push(list("ro-bind", p["ro-bind"], true));
    if (p.bind.length) out.push(list("bind", p.bind, true));
    out.push("");
  }
  comment(p.network === "none" ? "Network: no inet socket was used." :
    p.network === "loopback" ? "Network: inet only between the program's own endpoints (a private loopback)." :
      "Network: the host's (it listens, or connects to something outside the jail).");
  out.push(`network = ${q(p.network)}`);
  if (p.listen.length) out.push(list("listen", p.listen));
  if (p.connect.length) out.push(list("connect", p.connect));
  out.push("");
  comment("Capabilities the observed calls need (low port bind: net_bind_service; id changes: setuid/setgid;",
    "chown: chown; signals to another user's processes: kill). All others are dropped.");
  out.push(list("capabilities", p.capabilities), "");
  out.push("[learned]", `programs = [${p.learned.programs.map(q).join(", ")}]`, `date = ${q(p.learned.date)}`,
    `jailx = ${q(p.learned.jailx)}`, `runs = ${p.learned.runs}`, "");
  return out.join("\n");
}

const LIST_KEYS = ["syscalls", "read", "write", "exec", "listen", "connect", "capabilities", "ro-bind", "bind"] as const;
const NETWORKS: Network[] = ["none", "loopback", "host"];

/** A learned profile read back (only the keys learn writes; anything else is kept out). */
export function parseProfile(text: string, file: string): Profile {
  let t: Record<string, unknown>;
  try {
    t = Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`--merge ${file}: not a TOML file (${err instanceof Error ? err.message : String(err)})`);
  }
  const strings = (k: string): string[] => {
    const v = t[k] ?? [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new UsageError(`--merge ${file}: '${k}' must be a list of strings`);
    return v as string[];
  };
  const network = (t.network ?? "none") as Network;
  if (!NETWORKS.includes(network)) throw new UsageError(`--merge ${file}: network '${String(t.network)}': use none, loopback or host`);
  const learned = (t.learned ?? {}) as Record<string, unknown>;
  const p = Object.fromEntries(LIST_KEYS.map((k) => [k, strings(k)])) as Record<(typeof LIST_KEYS)[number], string[]>;
  return {
    ...p,
    network,
    learned: {
      programs: Array.isArray(learned.programs) ? learned.programs.filter((x): x is string => typeof x === "string") : [],
      date: typeof learned.date === "string" ? learned.date : "",
      jailx: typeof learned.jailx === "string" ? learned.jailx : "",
      runs: typeof learned.runs === "number" ? learned.runs : 1,
    },
    options: Object.fromEntries(CARRIED_OPTIONS.flatMap((k) => {
      const v = t[k];
      if (v === undefined) return [];
      if (typeof v !== "string" && typeof v !== "boolean") throw new UsageError(`--merge ${file}: '${k}' must be a string or true/false`);
      return [[k, v]];
    })),
    notes: {},
  };
}

const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])];

/** Both runs' needs: lists united (paths re-collapsed), the wider network. */
export function mergeProfiles(a: Profile, b: Profile): Profile {
  const paths = (x: string[], y: string[]) => {
    const all = union(x, y);
    const whole = all.filter((s) => s.endsWith("/")).map((s) => (s === "/" ? "/" : s.slice(0, -1)));
    const plain = all.filter((s) => !s.endsWith("/"));
    return collapsePaths(plain, [], whole);
  };
  const tmp = (x: string[]) => x.filter((s) => s.startsWith("tmpfs:"));
  const host = (x: string[]) => x.filter((s) => !s.startsWith("tmpfs:"));
  return {
    syscalls: groupSyscalls({ merged: union(expandProfileSyscalls(a.syscalls), expandProfileSyscalls(b.syscalls)) })
      .concat(union(a.syscalls, b.syscalls).filter((s) => s.startsWith("@abi-")))
      .filter((s, i, all) => all.indexOf(s) === i),
    read: paths(a.read, b.read),
    exec: paths(a.exec, b.exec),
    write: [...paths(host(a.write), host(b.write)), ...union(tmp(a.write), tmp(b.write)).sort()],
    network: NETWORKS[Math.max(NETWORKS.indexOf(a.network), NETWORKS.indexOf(b.network))]!,
    listen: union(a.listen, b.listen).sort(),
    connect: union(a.connect, b.connect).sort(),
    capabilities: union(a.capabilities, b.capabilities).sort(),
    "ro-bind": union(a["ro-bind"], b["ro-bind"]).sort(),
    bind: union(a.bind, b.bind).sort(),
    learned: {
      programs: union(a.learned.programs, b.learned.programs),
      date: b.learned.date,
      jailx: b.learned.jailx,
      runs: a.learned.runs + b.learned.runs,
    },
    // The later run's way of starting wins (as a flag after a profile would).
    options: { ...a.options, ...b.options },
    notes: { read: [...(a.notes.read ?? []), ...(b.notes.read ?? [])].slice(0, 1), write: [...(b.notes.write ?? [])] },
  };
}
