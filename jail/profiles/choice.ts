// Which built-in profile a command selects by itself (jail/profiles/index.ts holds the profiles).
// Apart from them: every run asks, and only a run that uses one loads the profiles' texts.
import { basename } from "node:path";
import { UsageError } from "../../sys/errors.ts";
import type { ParsedOptions } from "../options.ts";

/** `python3 -m http.server`, `python3.11 -mhttp.server 8000`, …: the module decides, not the name. */
function runsModule(args: readonly string[], module: string): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-m") return args[i + 1] === module;
    if (a.startsWith("-m")) return a.slice(2) === module;
    // python's own options come before -m; anything else (a script) means no module
    if (!a.startsWith("-")) return false;
  }
  return false;
}

/** The built-in profile a command selects by itself (no --profile/--no-profile), or null. */
export function profileFor(command: readonly string[]): string | null {
  const name = basename(command[0] ?? "");
  if (name === "nginx" || name === "redis-server" || name === "jq") return name;
  if (/^python3(\.\d+)?$/.test(name) && runsModule(command.slice(1), "http.server")) return "python3-http.server";
  return null;
}

/** The profile a run uses: --profile, else (unless --no-profile) the built-in its program selects. */
export function profileChoice(o: ParsedOptions, command: readonly string[]): { ref: string; auto: boolean } | null {
  const named = o["profile"] as string | undefined;
  if (o["no-profile"] === true) {
    if (named !== undefined) throw new UsageError("--profile and --no-profile: give one of them");
    return null;
  }
  if (named !== undefined) return { ref: named, auto: false };
  const auto = profileFor(command);
  return auto === null ? null : { ref: auto, auto: true };
}
