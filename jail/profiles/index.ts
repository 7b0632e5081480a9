// Built-in profiles, compiled into the binary (each TOML file is bundled as text, so a mistake
// in one is reported like a user's file). Which program selects which profile is decided here.
import { basename } from "node:path";
import { UsageError } from "../../sys/errors.ts";
import type { ParsedOptions } from "../options.ts";
import defaultText from "./default.toml" with { type: "text" };
import strictText from "./strict.toml" with { type: "text" };
import nginxText from "./nginx.toml" with { type: "text" };
import redisText from "./redis-server.toml" with { type: "text" };
import httpServerText from "./python3-http.server.toml" with { type: "text" };
import jqText from "./jq.toml" with { type: "text" };

export interface BuiltinProfile {
  text: string;
  /** the profile's first comment line */
  summary: string;
}

function builtin(text: string): BuiltinProfile {
  return { text, summary: /^#\s*(.*)$/m.exec(text)?.[1] ?? "" };
}

export const BUILTIN_PROFILES: Record<string, BuiltinProfile> = {
  default: builtin(defaultText),
  strict: builtin(strictText),
  nginx: builtin(nginxText),
  "redis-server": builtin(redisText),
  "python3-http.server": builtin(httpServerText),
  jq: builtin(jqText),
};

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
