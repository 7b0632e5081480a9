// `jailx profile list|show`: the built-in profiles, and what a profile (built-in or file)
// amounts to after its includes are merged. Data goes to stdout.
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { BUILTIN_PROFILES } from "../jail/profiles/index.ts";
import { isBuiltinName, loadProfile } from "../jail/profile.ts";
import { profileOptions, profileToToml } from "../jail/profile-options.ts";
import { realHost } from "../jail/host.ts";
import { UsageError } from "../sys/errors.ts";

/** Which commands select a built-in profile by themselves (jail/profiles/index.ts decides). */
const SELECTED_BY: Record<string, string> = {
  nginx: "nginx",
  "redis-server": "redis-server",
  "python3-http.server": "python3[.N] -m http.server",
  jq: "jq",
};

function readSource(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`jailx profile show --source ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e}); give a built-in name or a readable file`);
  }
}

const list = defineCommand({
  meta: { name: "list", description: "list the built-in profiles and the programs that select them" },
  run() {
    const rows = Object.entries(BUILTIN_PROFILES).map(([name, p]) => [name, SELECTED_BY[name] ?? "(only with --profile)", p.summary]);
    const w0 = Math.max(4, ...rows.map((r) => r[0]!.length)), w1 = Math.max(11, ...rows.map((r) => r[1]!.length));
    const out = [["NAME".padEnd(w0), "SELECTED BY".padEnd(w1), "WHAT"].join("  ")];
    for (const [a, b, c] of rows) out.push([a!.padEnd(w0), b!.padEnd(w1), c].join("  "));
    process.stdout.write(out.join("\n") + "\n");
  },
});

function flagLine(name: string, v: string | boolean | string[] | undefined): string[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v.map((x) => `--${name} ${x}`);
  return [v === true ? `--${name}` : v === false ? `--no-${name}` : `--${name} ${v}`];
}

const show = defineCommand({
  meta: { name: "show", description: "print a profile's effective settings (includes merged) and the run options they become" },
  args: {
    profile: { type: "positional", description: "a built-in name (see 'jailx profile list') or a TOML file", required: false },
    source: { type: "boolean", description: "print the profile as written, with its comments (a built-in's review notes), includes not merged" },
  },
  run({ args }) {
    const ref = args.profile as string | undefined;
    if (!ref) throw new UsageError("jailx profile show NAME|FILE: give a profile (see 'jailx profile list')");
    if (args.source) {
      process.stdout.write(isBuiltinName(ref) ? BUILTIN_PROFILES[ref]!.text : readSource(ref));
      return;
    }
    const host = realHost();
    const p = loadProfile(ref, host.cwd);
    const { options, skipped } = profileOptions(p, host);
    const out = [`# profile ${ref}: ${p.sources.join(" + ")}`, "", profileToToml(p).trimEnd(), ""];
    out.push("# As `jailx run` options on this host (flags on the command line override these, and");
    out.push("# repeatable flags add to them):");
    for (const [k, v] of Object.entries(options)) for (const line of flagLine(k, v)) out.push(`#   ${line}`);
    if (skipped.length) out.push(`# Not on this host, left out of the view: ${skipped.join(", ")}`);
    process.stdout.write(out.join("\n") + "\n");
  },
});

export default defineCommand({
  meta: { name: "profile", description: "list and show profiles (the options 'jailx run' takes from them)" },
  subCommands: { list, show },
});
