// --expect FILE: the properties a process must have, as TOML. Each violated property becomes one
// line; a property that cannot be verified (unknown fact) is a violation too, saying why.
import { UsageError } from "../sys/errors.ts";
import { normalizeCapName } from "./caps.ts";
import type { InspectReport } from "./json.ts";
import { isUnknown, NS_TYPES, type NsType } from "./snapshot.ts";

export interface Expectations {
  separate_namespaces?: NsType[];
  forbid_caps?: string[];
  seccomp?: boolean;
  no_new_privs?: boolean;
  root_separate?: boolean;
  read_only_root?: boolean;
  non_root?: boolean;
  memory_limit?: boolean;
  pids_limit?: boolean;
  max_exposure?: number;
}

const KEYS: Record<keyof Expectations, "bool" | "number" | "strings"> = {
  separate_namespaces: "strings",
  forbid_caps: "strings",
  seccomp: "bool",
  no_new_privs: "bool",
  root_separate: "bool",
  read_only_root: "bool",
  non_root: "bool",
  memory_limit: "bool",
  pids_limit: "bool",
  max_exposure: "number",
};

/** Validates parsed TOML; `file` names the source in error messages. */
export function parseExpectations(data: unknown, file: string): Expectations {
  if (typeof data !== "object" || data === null) throw new UsageError(`--expect ${file}: not a TOML table`);
  for (const [k, v] of Object.entries(data)) {
    const type = KEYS[k as keyof Expectations];
    if (!type) throw new UsageError(`--expect ${file}: unknown key '${k}' (known: ${Object.keys(KEYS).join(", ")})`);
    const ok =
      type === "bool" ? typeof v === "boolean" : type === "number" ? typeof v === "number" : Array.isArray(v) && v.every((x) => typeof x === "string");
    if (!ok) throw new UsageError(`--expect ${file}: '${k}' must be ${type === "strings" ? "a list of strings" : `a ${type === "bool" ? "boolean" : "number"}`}`);
  }
  const e = data as Expectations;
  for (const t of e.separate_namespaces ?? [])
    if (!NS_TYPES.includes(t)) throw new UsageError(`--expect ${file}: unknown namespace '${t}' (known: ${NS_TYPES.join(", ")})`);
  return { ...e, forbid_caps: e.forbid_caps?.map(normalizeCapName) };
}

export function violations(r: InspectReport, e: Expectations): string[] {
  const out: string[] = [];
  const boolFact = (want: boolean | undefined, fact: boolean | { unknown: string }, what: string) => {
    if (want === undefined) return;
    if (isUnknown(fact)) out.push(`${what}: cannot verify, unknown (${fact.unknown})`);
    else if (fact !== want) out.push(`${what}: expected ${want ? "yes" : "no"}, found ${fact ? "yes" : "no"}`);
  };
  for (const t of e.separate_namespaces ?? []) {
    const n = r.namespaces[t];
    if (n.state === "unknown") out.push(`${t} namespace: cannot verify, unknown (${n.reason})`);
    else if (n.state === "shared") out.push(`${t} namespace: shared with the host (compared with ${n.reference})`);
  }
  const usable = new Set([...r.capabilities.effective, ...r.capabilities.permitted, ...r.capabilities.ambient]);
  for (const c of e.forbid_caps ?? []) if (usable.has(c)) out.push(`cap_${c}: usable (effective/permitted/ambient)`);
  boolFact(e.seccomp, r.seccomp.mode !== "disabled", "seccomp");
  boolFact(e.no_new_privs, r.noNewPrivs, "no_new_privs");
  boolFact(e.root_separate, r.filesystem.rootSeparate, "own root directory");
  boolFact(e.read_only_root, r.filesystem.rootReadOnly, "read-only root");
  boolFact(e.non_root, isUnknown(r.credentials.identity) ? r.credentials.identity : r.credentials.identity !== "host-root", "not root on the host");
  const cg = r.resources.cgroup;
  const limitFact = (res: "memory" | "pids") =>
    isUnknown(cg) ? cg : isUnknown(cg[res]) ? cg[res] : cg[res].value !== null;
  boolFact(e.memory_limit, limitFact("memory"), "memory limit");
  boolFact(e.pids_limit, limitFact("pids"), "pids limit");
  if (e.max_exposure !== undefined) {
    const x = r.score.exposure;
    if (x === null) out.push("exposure: cannot verify, no check could be assessed");
    else if (x > e.max_exposure) out.push(`exposure: ${x.toFixed(1)} is above ${e.max_exposure}`);
  }
  return out;
}
