// The TOML policy file (`--seccomp FILE`), same vocabulary as the flags. Format: docs/SECCOMP.md.
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.ts";
import { parseAction, type Action } from "./actions.ts";
import type { ArgCondition, ArgRule } from "./policy-types.ts";

export interface PolicyFile {
  base?: "default" | "empty";
  defaultAction?: string;
  denyAction?: Action;
  foreignAbiAction?: Action;
  allow?: string[];
  deny?: string[];
  log?: boolean;
  rules?: Record<string, ArgRule[]>;
}

const TOP_KEYS = ["base", "default-action", "deny-action", "foreign-abi-action", "allow", "deny", "log", "rule"];
const RULE_KEYS = ["syscall", "action", "when", "why"];
const COND_KEYS = ["arg", "op", "value", "mask", "width"];

export function readPolicyFile(path: string): PolicyFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`--seccomp ${path}: cannot read the policy file (${(e as NodeJS.ErrnoException).code ?? e}): give 'default', 'none' or a readable TOML file`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`--seccomp ${path}: not valid TOML (${(e as Error).message}): fix the file (format: docs/SECCOMP.md)`);
  }
  return parsePolicyDoc(doc, path);
}

export function parsePolicyDoc(doc: Record<string, unknown>, where: string): PolicyFile {
  const bad = (what: string, fix: string): never => {
    throw new UsageError(`--seccomp ${where}: ${what}: ${fix}`);
  };
  for (const k of Object.keys(doc)) if (!TOP_KEYS.includes(k)) bad(`unknown key '${k}'`, `use ${TOP_KEYS.join(", ")}`);
  const out: PolicyFile = {};
  if (doc.base !== undefined) {
    if (doc.base !== "default" && doc.base !== "empty") bad(`base = ${JSON.stringify(doc.base)}`, `use "default" or "empty"`);
    out.base = doc.base as "default" | "empty";
  }
  if (doc["default-action"] !== undefined) {
    out.defaultAction = stringAt(doc["default-action"], "default-action", bad);
    parseAction(out.defaultAction, `--seccomp ${where}: default-action`);
  }
  if (doc["deny-action"] !== undefined) out.denyAction = parseAction(stringAt(doc["deny-action"], "deny-action", bad), `--seccomp ${where}: deny-action`);
  if (doc["foreign-abi-action"] !== undefined) {
    out.foreignAbiAction = parseAction(stringAt(doc["foreign-abi-action"], "foreign-abi-action", bad), `--seccomp ${where}: foreign-abi-action`);
  }
  for (const key of ["allow", "deny"] as const) {
    const v = doc[key];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) bad(`${key} must be a list of strings`, `e.g. ${key} = ["@mount", "ptrace"]`);
    out[key] = v as string[];
  }
  if (doc.log !== undefined) {
    if (typeof doc.log !== "boolean") bad(`log = ${JSON.stringify(doc.log)}`, "use true or false");
    out.log = doc.log as boolean;
  }
  if (doc.rule !== undefined) {
    if (!Array.isArray(doc.rule)) bad("rule must be an array of tables", "write each as [[rule]]");
    out.rules = {};
    (doc.rule as Record<string, unknown>[]).forEach((r, i) => {
      for (const k of Object.keys(r)) if (!RULE_KEYS.includes(k)) bad(`rule ${i + 1}: unknown key '${k}'`, `use ${RULE_KEYS.join(", ")}`);
      const syscall = stringAt(r.syscall, `rule ${i + 1}: syscall`, bad);
      const action = parseAction(stringAt(r.action, `rule ${i + 1}: action`, bad), `--seccomp ${where}: rule ${i + 1}`);
      const when = (r.when ?? []) as Record<string, unknown>[];
      if (!Array.isArray(when)) bad(`rule ${i + 1}: when must be a list`, `e.g. when = [{ arg = 0, op = "eq", value = 38 }]`);
      const conds = when.map((c, j) => condition(c, `rule ${i + 1} condition ${j + 1}`, bad));
      (out.rules![syscall] ??= []).push({ when: conds, action, ...(typeof r.why === "string" ? { why: r.why } : {}) });
    });
  }
  return out;
}

function condition(c: Record<string, unknown>, at: string, bad: (w: string, f: string) => never): ArgCondition {
  for (const k of Object.keys(c)) if (!COND_KEYS.includes(k)) bad(`${at}: unknown key '${k}'`, `use ${COND_KEYS.join(", ")}`);
  const arg = c.arg;
  if (typeof arg !== "number" || !Number.isInteger(arg) || arg < 0 || arg > 5) bad(`${at}: arg = ${JSON.stringify(arg)}`, "use 0..5");
  const op = c.op ?? "eq";
  if (op !== "eq" && op !== "ne" && op !== "masked-eq" && op !== "masked-ne") bad(`${at}: op = ${JSON.stringify(op)}`, `use eq, ne, masked-eq or masked-ne`);
  const width = c.width ?? 64;
  if (width !== 32 && width !== 64) bad(`${at}: width = ${JSON.stringify(width)}`, "use 32 or 64");
  const value = number(c.value, `${at}: value`, bad);
  const cond: ArgCondition = { arg: arg as number, op: op as ArgCondition["op"], value, width: width as 32 | 64 };
  if (op === "masked-eq" || op === "masked-ne") cond.mask = number(c.mask, `${at}: mask`, bad);
  return cond;
}

function number(v: unknown, at: string, bad: (w: string, f: string) => never): string {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return `0x${v.toString(16)}`;
  if (typeof v === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(v) && BigInt(v) < 1n << 64n) return `0x${BigInt(v).toString(16)}`;
  return bad(`${at} = ${JSON.stringify(v)}`, "use a non-negative integer (hex as 0x…, or a string for 64-bit values)");
}

function stringAt(v: unknown, at: string, bad: (w: string, f: string) => never): string {
  if (typeof v !== "string") bad(`${at} = ${JSON.stringify(v)}`, "use a string");
  return v as string;
}
