// Help and argument checks for the citty commands (everything but `run`, whose schema lives in
// jail/options.ts): our own renderer, so every command's --help wraps to the terminal like
// `jailx run --help`, and unknown options or commands name the closest known one.
import type { ArgDef, CommandDef, CommandMeta } from "citty";
import { UsageError } from "../sys/errors.ts";
import { DEFAULT_WIDTH, didYouMean, twoColumns, wrapWords } from "../jail/cli-text.ts";

/** Flags every command accepts (main.ts handles them). */
const GLOBAL = ["help", "verbose"];

/** The terminal's width when stdout is one, else DEFAULT_WIDTH. */
export function helpWidth(): number {
  const cols = process.stdout.isTTY ? process.stdout.columns : 0;
  return cols && cols >= 20 ? cols : DEFAULT_WIDTH;
}

export async function resolve<T>(v: T | (() => T | Promise<T>) | Promise<T>): Promise<T> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

type SubCommands = Record<string, CommandDef | (() => Promise<CommandDef>)>;
const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export interface Target {
  cmd: CommandDef;
  /** command words after "jailx", e.g. ["seccomp", "show"] */
  path: string[];
  /** the arguments left for that command */
  args: string[];
}

/**
 * The command the words name, as citty dispatches: the first non-option word picks a
 * subcommand while there are subcommands. An unknown subcommand is a usage error with a hint.
 */
export async function findTarget(cmd: CommandDef, path: string[], args: string[]): Promise<Target> {
  for (;;) {
    const subs = (await resolve(cmd.subCommands)) as SubCommands | undefined;
    if (!subs) return { cmd, path, args };
    const i = args.findIndex((a) => !a.startsWith("-"));
    if (i < 0) return { cmd, path, args };
    const next = subs[args[i]!];
    if (!next) {
      const names = Object.keys(subs);
      const where = ["jailx", ...path].join(" ");
      throw new UsageError(`unknown command '${args[i]}'${path.length ? ` for '${where}'` : ""}${didYouMean(args[i]!, names, "")}: use ${names.join(", ")} (see '${where} --help')`);
    }
    cmd = await resolve(next);
    path = [...path, args[i]!];
    args = [...args.slice(0, i), ...args.slice(i + 1)];
  }
}

/** citty accepts any flag; a typo must not silently change what a command does. */
export async function checkOptions({ cmd, path, args }: Target): Promise<void> {
  const defs = Object.entries(((await resolve(cmd.args)) ?? {}) as Record<string, ArgDef>).filter(([, d]) => d.type !== "positional");
  const byName = new Map<string, ArgDef>();
  for (const [name, d] of defs) {
    byName.set(kebab(name), d);
    for (const a of [(d as { alias?: string | string[] }).alias ?? []].flat()) byName.set(a, d);
  }
  const known = [...GLOBAL, ...defs.map(([n]) => kebab(n))];
  const where = `jailx ${path.join(" ")}`;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") break;
    if (!a.startsWith("-") || a === "-" || /^-\d/.test(a)) continue;
    const name = a.replace(/^--?/, "").split("=")[0]!;
    if (GLOBAL.includes(name) || a === "-h") continue;
    const def = byName.get(name) ?? (name.startsWith("no-") && byName.get(name.slice(3))?.type === "boolean" ? byName.get(name.slice(3)) : undefined);
    if (!def) throw new UsageError(`unknown option '${a.split("=")[0]}' for '${where}'${didYouMean(name, known)}: see '${where} --help'`);
    if ((def.type === "string" || def.type === "enum") && !a.includes("=")) i++;
  }
}

/** A command's --help: description, usage, arguments, options, subcommands, within `width`. */
export async function renderHelp(cmd: CommandDef, path: string[], width: number): Promise<string> {
  const meta = ((await resolve(cmd.meta)) ?? {}) as CommandMeta;
  const args = Object.entries(((await resolve(cmd.args)) ?? {}) as Record<string, ArgDef>);
  const subs = ((await resolve(cmd.subCommands)) ?? {}) as SubCommands;
  const positional = args.filter(([, d]) => d.type === "positional");
  const options = args.filter(([, d]) => d.type !== "positional");
  const usage = [`jailx`, ...path, subs && Object.keys(subs).length ? "COMMAND" : "", options.length ? "[options]" : "",
    ...positional.map(([n, d]) => (d.required === false ? `[${n.toUpperCase()}]` : n.toUpperCase()))].filter(Boolean).join(" ");
  const out: string[] = [];
  const d = meta.description;
  if (d) out.push(...wrapWords(d[0]!.toUpperCase() + d.slice(1) + (/[.!?]$/.test(d) ? "" : "."), width), "");
  out.push(...wrapWords(`Usage: ${usage}`, width));
  const section = (title: string, rows: [string, string][]) => {
    if (rows.length) out.push("", `${title}:`, ...twoColumns(rows, width));
  };
  section("Arguments", positional.map(([n, d]) => [n.toUpperCase(), d.description ?? ""]));
  section("Options", options.map(([n, d]) => {
    const value = d.type === "string" || d.type === "enum" ? ` ${d.valueHint ?? "VALUE"}` : "";
    return [`--${kebab(n)}${value}`, d.description ?? ""];
  }));
  const subRows: [string, string][] = [];
  for (const [name, sub] of Object.entries(subs)) {
    const m = ((await resolve((await resolve(sub)).meta)) ?? {}) as CommandMeta;
    if (!m.hidden) subRows.push([name, m.description ?? ""]);
  }
  section("Commands", subRows);
  if (subRows.length) out.push("", ...wrapWords(`Run '${["jailx", ...path, "COMMAND"].join(" ")} --help' for a command's options.`, width));
  return out.join("\n") + "\n";
}
