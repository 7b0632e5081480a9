// `jailx inspect PID|self`, `jailx inspect --all`: audits how contained a process is, from /proc.
// Gathering, judging and rendering live in inspect/; this file parses arguments and prints.
import { EXIT_CLOSED_PIPE } from "./closed-pipe.ts";
import { readFileSync, writeSync } from "node:fs";
import { isatty } from "node:tty";
import { defineCommand } from "citty";
import { UsageError } from "../sys/errors.ts";
import { parseExpectations, violations, type Expectations } from "../inspect/expect.ts";
import { gather, GatherContext, NoSuchProcess } from "../inspect/gather.ts";
import { buildReport, LIST_SCHEMA } from "../inspect/json.ts";
import { listAll, renderRows, sortRows, type SortKey } from "../inspect/list.ts";
import { renderText } from "../inspect/report.ts";
import { printable } from "../inspect/printable.ts";
import { filterSummary } from "../inspect/seccomp-filters.ts";
import { log } from "./log.ts";

const FLAGS = new Set(["all", "json", "jailed", "min-score", "sort", "threshold", "expect", "verbose", "color", "no-color"]);
const VALUE_FLAGS = new Set(["min-score", "sort", "threshold", "expect"]);

export default defineCommand({
  meta: { name: "inspect", description: "audit how contained a process is (reads /proc; root sees more)" },
  args: {
    pid: { type: "positional", required: false, description: "process id, or 'self'" },
    all: { type: "boolean", description: "one line per process" },
    json: { type: "boolean", description: "print JSON (schema in docs/INSPECT.md)" },
    jailed: { type: "boolean", description: "with --all: only processes with a separate namespace or root" },
    "min-score": { type: "string", description: "with --all: only processes with exposure >= N" },
    sort: { type: "string", description: "with --all: pid|score|user|comm (default pid)" },
    threshold: { type: "string", description: "exit 1 when the exposure is above N (0.0-10.0)" },
    expect: { type: "string", description: "TOML file of required properties; exit 1 listing violations" },
    verbose: { type: "boolean", description: "show stack traces" },
  },
  async run({ args, rawArgs }) {
    checkFlags(rawArgs);
    const threshold = args.threshold === undefined ? undefined : score0to10(args.threshold, "--threshold");
    if (args.all) {
      if (args.pid !== undefined) throw new UsageError(`give either a PID or --all, not both (got '${args.pid}')`);
      if (args.expect !== undefined) throw new UsageError("--expect checks one process: give a PID instead of --all");
      listCommand(args, threshold);
      return;
    }
    if (args.jailed || args["min-score"] !== undefined || args.sort !== undefined)
      throw new UsageError("--jailed, --min-score and --sort filter the --all list: add --all");
    const pid = parsePid(args.pid);
    const expect = args.expect === undefined ? undefined : loadExpectations(args.expect);

    let snap;
    try {
      snap = gather(pid, new GatherContext());
    } catch (e) {
      if (e instanceof NoSuchProcess) throw new UsageError(e.message);
      throw e;
    }
    if (snap.pin.state !== "alive") throw new UsageError(`process ${pid}: ${snap.pin.detail}; nothing reported`);
    snap = { ...snap, seccompFilterSummary: await filterSummary(snap) };
    const report = buildReport(snap);
    const broken = expect ? violations(report, expect) : [];
    if (args.json) print(JSON.stringify(expect ? { ...report, violations: broken } : report, null, 2) + "\n");
    else print(renderText(printable(report), isatty(1) && !process.env.NO_COLOR));

    const exposure = report.score.exposure;
    if (threshold !== undefined && (exposure === null || exposure > threshold)) {
      log.error(`exposure ${exposure === null ? "unknown" : exposure.toFixed(1)} is above the threshold ${threshold}`);
      process.exitCode = 1;
    }
    for (const v of broken) log.error(`expectation failed: ${v}`);
    if (broken.length) process.exitCode = 1;
  },
});

function listCommand(args: Record<string, unknown>, threshold: number | undefined): void {
  const sort = (args.sort as string | undefined) ?? "pid";
  if (!["pid", "score", "user", "comm"].includes(sort)) throw new UsageError(`--sort '${sort}': use pid, score, user or comm`);
  const min = args["min-score"] === undefined ? undefined : score0to10(String(args["min-score"]), "--min-score");
  const ctx = new GatherContext();
  let rows = listAll(ctx);
  if (args.jailed) rows = rows.filter((r) => r.jailed);
  if (min !== undefined) rows = rows.filter((r) => r.exposure !== null && r.exposure >= min);
  rows = sortRows(rows, sort as SortKey);
  if (args.json) print(JSON.stringify({ schema: LIST_SCHEMA, reader: { pid: ctx.readerPid, uid: ctx.src.readerUid }, processes: rows }) + "\n");
  else print(renderRows(printable(rows)));
  if (threshold !== undefined) {
    const above = rows.filter((r) => r.exposure === null || r.exposure > threshold);
    if (above.length) {
      log.error(`${above.length} process(es) above the threshold ${threshold}: ${above.slice(0, 10).map((r) => r.pid).join(", ")}${above.length > 10 ? ", …" : ""}`);
      process.exitCode = 1;
    }
  }
}

/**
 * Writes to fd 1 directly. process.stdout is a lazily built stream whose first use loads Node's
 * stream modules: 15–25 ms of a ~100 ms --all run (measured on the compiled binary).
 */
function print(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // the reader went away (| head): stop quietly, with the status a tool killed by SIGPIPE has
      if (code === "EPIPE") return void (process.exitCode = EXIT_CLOSED_PIPE);
      if (code === "EAGAIN") return void process.stdout.write(buf.subarray(off)); // non-blocking stdout: the stream waits
      throw e;
    }
  }
}

/** citty accepts any flag; reject unknown ones so a typo does not silently change the audit. */
function checkFlags(raw: string[]): void {
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i]!;
    if (!a.startsWith("--")) continue;
    const name = a.slice(2).split("=")[0]!;
    if (!FLAGS.has(name)) throw new UsageError(`unknown option '${a}' for inspect (see 'jailx inspect --help')`);
    if (VALUE_FLAGS.has(name) && !a.includes("=")) {
      if (raw[i + 1] === undefined) throw new UsageError(`${a} needs a value`);
      i++;
    }
  }
}

export function parsePid(arg: string | undefined): number {
  if (arg === undefined) throw new UsageError("give a process id, 'self', or --all (e.g. 'jailx inspect 1234')");
  if (arg === "self") return process.pid;
  if (!/^[0-9]+$/.test(arg) || Number(arg) < 1 || Number(arg) > 2 ** 22)
    throw new UsageError(`'${arg}' is not a process id: give a positive number, 'self', or --all`);
  return Number(arg);
}

function score0to10(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 10) throw new UsageError(`${flag} '${v}': give a number from 0.0 to 10.0`);
  return n;
}

function loadExpectations(file: string): Expectations {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`--expect ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let data: unknown;
  try {
    data = Bun.TOML.parse(text);
  } catch (e) {
    throw new UsageError(`--expect ${file}: not valid TOML (${(e as Error).message.split("\n")[0]})`);
  }
  return parseExpectations(data, file);
}
