// Built-in profiles, compiled into the binary (each TOML file is bundled as text, so a mistake
// in one is reported like a user's file).
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

// Which program selects which profile: jail/profiles/choice.ts (the run path loads only that).
export { profileChoice, profileFor } from "./choice.ts";
