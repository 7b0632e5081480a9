// Profiles: TOML files whose keys are `jailx run` options (the schema in jail/options.ts, so
// names, types and help stay written once) plus the keys learning produces (syscalls, read,
// write, exec, network, capabilities, user). Format: docs/PROFILES.md.
//
// Loading resolves includes depth-first (earlier includes first, the including file last), so
// later ones override scalars and every list concatenates. A bad file is one UsageError naming
// the file and the key: nothing is started.
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "../sys/errors.ts";
import { capNumber } from "../sys/caps.ts";
import { RUN_OPTIONS, type OptionSpec } from "./options.ts";
import { BUILTIN_PROFILES } from "./profiles/index.ts";

/** Run options a profile cannot set: they concern one invocation, not the program. */
const NOT_IN_PROFILES = new Set(["dry-run", "verbose", "profile", "no-profile"]);

type Shape = "list" | "string" | "bool" | "table";
/** Keys for what learning produces (agreed with `jailx learn`); `user` is a run option already. */
const LEARNED_KEYS: Record<string, Shape> = {
  syscalls: "list", read: "list", write: "list", exec: "list", network: "string",
  listen: "list", connect: "list", capabilities: "list", learned: "table",
};
export const NETWORKS = ["none", "loopback", "host"];

const RUN_KEYS = new Map<string, OptionSpec>(RUN_OPTIONS.filter((o) => !NOT_IN_PROFILES.has(o.name)).map((o) => [o.name, o]));

export type Setting = string | boolean | string[] | Record<string, unknown>;

export interface Profile {
  /** what the user named: a built-in name or a path */
  name: string;
  /** every profile read, in merge order (includes first) */
  sources: string[];
  /** merged keys */
  settings: Record<string, Setting>;
  /** key → where its value (or its last addition) came from, e.g. "built-in 'nginx'" */
  origin: Record<string, string>;
}

interface Source {
  /** unique id for cycle detection: "builtin:NAME" or the absolute path */
  id: string;
  /** for messages: "built-in 'nginx'" or the path */
  label: string;
  text: string;
  /** directory that relative includes are resolved against; null for built-ins */
  dir: string | null;
}

export function isBuiltinName(ref: string): boolean {
  return Object.hasOwn(BUILTIN_PROFILES, ref);
}

function builtinSource(name: string): Source {
  return { id: `builtin:${name}`, label: `built-in '${name}'`, text: BUILTIN_PROFILES[name]!.text, dir: null };
}

function fileSource(path: string, what: string): Source {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    const hint = existsSync(path) ? "make it readable" : `give a built-in name (${Object.keys(BUILTIN_PROFILES).join(", ")}) or an existing file`;
    throw new UsageError(`${what}: cannot read ${path} (${code}): ${hint}`);
  }
  return { id: path, label: path, text, dir: dirname(path) };
}

/** `--profile NAME|FILE`: a built-in name wins; anything else is a file (relative to `cwd`). */
export function loadProfile(ref: string, cwd: string): Profile {
  const src = isBuiltinName(ref) ? builtinSource(ref) : fileSource(resolve(cwd, ref), `--profile '${ref}'`);
  const p: Profile = { name: ref, sources: [], settings: {}, origin: {} };
  loadInto(src, [], p);
  return p;
}

function loadInto(src: Source, stack: string[], p: Profile): void {
  const fail = (key: string | null, what: string): never => {
    throw new UsageError(`profile ${src.label}${key ? `: key '${key}'` : ""}: ${what}`);
  };
  let doc: Record<string, unknown>;
  try {
    doc = Bun.TOML.parse(src.text) as Record<string, unknown>;
  } catch (e) {
    return fail(null, `not valid TOML (${(e as Error).message.split("\n")[0]}); fix the file`);
  }
  for (const [key, value] of Object.entries(doc)) validate(key, value, fail);
  const chain = [...stack, src.id];
  for (const inc of (doc.include as string[] | undefined) ?? []) {
    const next = isBuiltinName(inc) && !inc.includes("/") ? builtinSource(inc)
      : src.dir === null ? fail("include", `'${inc}' is not a built-in profile (${Object.keys(BUILTIN_PROFILES).join(", ")})`)
      : includedFile(resolve(src.dir, inc), inc, fail);
    if (chain.includes(next.id))
      fail("include", `'${inc}' includes itself (cycle: ${[...chain, next.id].map(short).join(" → ")}); remove one include`);
    loadInto(next, chain, p);
  }
  p.sources.push(src.label);
  for (const [key, value] of Object.entries(doc)) {
    if (key === "include") continue;
    const old = p.settings[key];
    p.settings[key] = Array.isArray(value) ? [...new Set([...((old as string[] | undefined) ?? []), ...(value as string[])])] : normalise(key, value);
    p.origin[key] = src.label;
  }
}

function includedFile(path: string, inc: string, fail: (key: string, what: string) => never): Source {
  if (!existsSync(path)) fail("include", `'${inc}' is neither a built-in profile nor a file (${path} does not exist)`);
  return fileSource(path, `include '${inc}'`);
}

function short(id: string): string {
  return id.startsWith("builtin:") ? id.slice(8) : id;
}

/** Numbers are accepted for valued options (pids = 512) and kept as the strings flags would give. */
function normalise(key: string, value: unknown): Setting {
  return typeof value === "number" && RUN_KEYS.get(key)?.type === "string" ? String(value) : (value as Setting);
}

function shapeOf(key: string): Shape | null {
  if (key === "include") return "list";
  const spec = RUN_KEYS.get(key);
  if (spec) return spec.type === "bool" ? "bool" : spec.repeat ? "list" : "string";
  return LEARNED_KEYS[key] ?? null;
}

const EXAMPLE: Record<Shape, string> = { list: `["…", "…"]`, string: `"…"`, bool: "true", table: "{ … }" };

function validate(key: string, value: unknown, fail: (key: string, what: string) => never): void {
  const shape = shapeOf(key);
  if (shape === null) {
    if (NOT_IN_PROFILES.has(key)) fail(key, `--${key} is a command-line flag only; remove it from the profile`);
    const near = closest(key, [...RUN_KEYS.keys(), ...Object.keys(LEARNED_KEYS), "include"]);
    fail(key, `unknown key${near ? `; did you mean '${near}'?` : ""} (keys: the long flags of 'jailx run --help' and ${Object.keys(LEARNED_KEYS).join(", ")})`);
  }
  const got = Array.isArray(value) ? "an array" : typeof value === "object" ? "a table" : `${typeof value} ${JSON.stringify(value)}`;
  const wrong = (): never => fail(key, `expected ${shape === "list" ? "an array of strings" : shape === "bool" ? "true or false" : shape === "table" ? "a table" : "a string"}, got ${got}; write ${key} = ${EXAMPLE[shape!]}`);
  switch (shape) {
    case "bool":
      if (typeof value !== "boolean") wrong();
      return;
    case "string":
      if (typeof value !== "string" && !(typeof value === "number" && RUN_KEYS.has(key))) wrong();
      if (key === "network" && !NETWORKS.includes(value as string)) fail(key, `'${value}' is not a network mode; use ${NETWORKS.map((n) => `"${n}"`).join(", ")}`);
      return;
    case "table":
      if (typeof value !== "object" || value === null || Array.isArray(value)) wrong();
      return;
    case "list":
      if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) wrong();
      for (const v of value as string[]) checkItem(key, v, fail);
  }
}

/** Values of the learned lists that can be checked without the host. */
function checkItem(key: string, v: string, fail: (key: string, what: string) => never): void {
  if (key === "read" || key === "exec" || key === "write") {
    const raw = key === "write" && v.startsWith("tmpfs:") ? v.slice(6) : v;
    // "$PWD" stands for the directory jailx is started in (e.g. what a file server serves)
    const path = raw === "$PWD" || raw.startsWith("$PWD/") ? raw.slice(4) || "/" : raw;
    if (!path.startsWith("/")) fail(key, `'${v}' is not an absolute path; write "/${path}"${key === "write" ? ` (or "tmpfs:/${path}" for a private scratch)` : ""}`);
    if (path.split("/").includes("..")) fail(key, `'${v}' contains '..'; give the real path`);
  }
  if (key === "capabilities") {
    try {
      capNumber(v);
    } catch {
      fail(key, `'${v}' is not a capability; use names as in capabilities(7), e.g. "net_bind_service"`);
    }
  }
  if ((key === "listen" || key === "connect") && !/^(tcp|udp|tcp6|udp6|unix):.+$/.test(v))
    fail(key, `'${v}' is not an endpoint; use "tcp:ADDRESS:PORT", "udp:ADDRESS:PORT" or "unix:PATH"`);
}

/** The valid key nearest to a misspelt one (Levenshtein distance ≤ 3), or null. */
export function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = 4;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
