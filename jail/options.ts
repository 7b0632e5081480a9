// The one schema of `jailx run` options: each flag's name, type, default and help are written
// here once. The parser, `jailx run --help` and the plan builders all read this table.
import { UsageError } from "../sys/errors.ts";
import { DEFAULT_CAPS } from "../sys/caps.ts";
import { DEFAULT_WIDTH, didYouMean, leftColumn, twoColumns, wrapWords } from "./cli-text.ts";

export type OptionType = "bool" | "string";

export interface OptionSpec {
  readonly name: string;
  readonly type: OptionType;
  /** May be given more than once; values are collected in order. */
  readonly repeat?: boolean;
  /** Shown in --help; applied by the plan builder (not by the parser). */
  readonly default?: string;
  /** Placeholder for the value in --help. */
  readonly value?: string;
  readonly help: string;
  readonly group: string;
}

/**
 * Resource defaults that keep a runaway jail from taking the host, each removable by its flag
 * (`--pids unlimited`, `--tmpfs-size unlimited`). A normal server does not come near them:
 * podman's default pids limit is 2048 too.
 */
export const RESOURCE_DEFAULTS = { pids: 2048, tmpfsSize: "10%" } as const;

export const RUN_OPTIONS: readonly OptionSpec[] = [
  // General
  { name: "dry-run", type: "bool", group: "General", help: "print the validated plan as JSON and exit" },
  { name: "verbose", type: "bool", group: "General", help: "log each setup step; show stack traces" },
  // Profiles (jail/profile.ts; docs/PROFILES.md)
  { name: "profile", type: "string", value: "NAME|FILE", group: "Profiles", default: "the built-in profile named after the program, if any", help: "take options from a profile (a built-in name or a TOML file; 'jailx profile list'); flags override it, repeatable flags add to it" },
  { name: "no-profile", type: "bool", group: "Profiles", help: "use no profile, not even the one a program's name selects" },
  // Management (jail/state.ts): named jails can be listed, joined and stopped
  { name: "name", type: "string", value: "NAME", group: "Management", default: "none (a generated jx-XXXXXX with --detach)", help: "name the jail (unique per user) for 'jailx ps|exec|stop|kill|logs'" },
  { name: "detach", type: "bool", group: "Management", help: "-d: run in the background once the program has started; print its name; output goes to a log ('jailx logs NAME', 1 MiB per file, one rotated file kept)" },
  // Namespaces
  { name: "userns", type: "bool", group: "Namespaces", default: "on for non-root, off for root", help: "run in a new user namespace (root: maps a range of host ids, see --userns-map)" },
  { name: "userns-map", type: "string", value: "HOSTID[:COUNT]", group: "Namespaces", default: "root's /etc/subuid range, else 1000000000:65536", help: "root with --userns: ids 0..COUNT-1 inside map to HOSTID.. outside" },
  { name: "rootless-map", type: "string", value: "root|self|sub", group: "Namespaces", default: "root", help: "rootless id mapping: own uid → 0, own uid → itself, or own uid → 0 plus the /etc/subuid range (newuidmap)" },
  { name: "share", type: "string", repeat: true, value: "uts|ipc|cgroup", group: "Namespaces", help: "share this namespace with the host instead of creating one (pid and mount are always new)" },
  { name: "net", type: "string", value: "host|none", group: "Namespaces", default: "host", help: "host: share the network; none: own network namespace with only loopback (up). Only 'none' separates abstract unix socket names: with the host network the jail cannot connect to the host's (Landlock) but can bind a free name first and receive the connections of host clients that use it" },
  // Filesystem
  { name: "ro-bind", type: "string", repeat: true, value: "SRC[:DST]", group: "Filesystem", help: "bind a host path read-only (DST defaults to SRC)" },
  { name: "bind", type: "string", repeat: true, value: "SRC[:DST]", group: "Filesystem", help: "bind a host path read-write" },
  { name: "tmpfs", type: "string", repeat: true, value: "DST[:size=N][:ro]", group: "Filesystem", help: "mount an empty tmpfs (nosuid, nodev); without size=, --tmpfs-size applies; ro: an empty read-only directory" },
  { name: "tmpfs-size", type: "string", value: "SIZE|N%|unlimited", group: "Filesystem", default: `${RESOURCE_DEFAULTS.tmpfsSize} of RAM each`, help: "size of /tmp, /run, /dev/shm and every --tmpfs without size= (e.g. 512m, 25%); unlimited = the kernel's default, half of RAM each" },
  { name: "symlink", type: "string", repeat: true, value: "TARGET:PATH", group: "Filesystem", help: "create a symlink PATH → TARGET inside the jail (e.g. usr/lib:/lib with --rootfs)" },
  { name: "rootfs", type: "string", value: "DIR", group: "Filesystem", help: "use a prepared directory (read-only) as the root instead of the system binds; missing mount points are created in it" },
  { name: "no-system-binds", type: "bool", group: "Filesystem", help: "do not bind /usr /bin /sbin /lib* /etc (give everything with --ro-bind)" },
  { name: "chdir", type: "string", value: "DIR", group: "Filesystem", default: "the current directory if bound at its own path, else / (with a note)", help: "working directory inside the jail" },
  // Identity
  { name: "user", type: "string", value: "USER|UID[:GID]", group: "Identity", default: "0:0 (root inside; with a user namespace, not root outside)", help: "run the program as this user; supplementary groups are cleared" },
  { name: "hostname", type: "string", value: "NAME", group: "Identity", default: "jailx", help: "hostname inside the jail (needs its own uts namespace)" },
  { name: "clearenv", type: "bool", group: "Identity", help: "start from an empty environment (PATH, HOME and container= are still set)" },
  { name: "setenv", type: "string", repeat: true, value: "K=V", group: "Identity", help: "set an environment variable" },
  { name: "unsetenv", type: "string", repeat: true, value: "K", group: "Identity", help: "remove an environment variable" },
  // Privileges
  { name: "cap-add", type: "string", repeat: true, value: "NAME", group: "Privileges", help: "keep this capability (e.g. NET_ADMIN or cap_net_admin)" },
  { name: "cap-drop", type: "string", repeat: true, value: "NAME|ALL", group: "Privileges", default: `root keeps ${DEFAULT_CAPS.join(" ")}`, help: "drop this capability from the default set (no fsetid in it: a write clears setuid/setgid bits; --cap-add FSETID keeps them)" },
  { name: "landlock", type: "bool", group: "Privileges", default: "on where the kernel has Landlock scoping (Linux ≥ 6.12)", help: "the program cannot connect to abstract unix sockets or signal processes outside the jail (host network shared or not); --no-landlock to allow" },
  { name: "allow-new-privs", type: "bool", group: "Privileges", help: "do not set no_new_privs (setuid binaries may then raise privileges inside the jail's limits)" },
  // Seccomp (sys/seccomp)
  { name: "seccomp", type: "string", value: "default|none|FILE", group: "Seccomp", default: "default", help: "syscall filter: the built-in policy, none, or a TOML policy file" },
  { name: "seccomp-allow", type: "string", repeat: true, value: "NAME|@group", group: "Seccomp", help: "allow a syscall or group" },
  { name: "seccomp-deny", type: "string", repeat: true, value: "NAME|@group", group: "Seccomp", help: "deny a syscall or group" },
  { name: "seccomp-default-action", type: "string", value: "errno[:N]|kill|log|allow", group: "Seccomp", default: "allow (deny-list: the default policy)", help: "action for syscalls no rule names (errno = allow-list mode)" },
  { name: "seccomp-log", type: "bool", group: "Seccomp", help: "log denied syscalls to the kernel log" },
  { name: "allow-reuseport", type: "bool", group: "Seccomp", help: "let the program set SO_REUSEPORT (refused by default: with the host network it could join a port a host service listens on and take part of its connections)" },
  // Resources (sys/cgroup)
  { name: "memory", type: "string", value: "SIZE", group: "Resources", help: "memory limit (e.g. 64m, 1g)" },
  { name: "memory-swap", type: "string", value: "SIZE", group: "Resources", help: "memory+swap total (Docker's meaning; needs --memory)" },
  { name: "cpus", type: "string", value: "N.N", group: "Resources", help: "CPU quota in CPUs (0.5 = half of one CPU)" },
  { name: "cpu-weight", type: "string", value: "N", group: "Resources", help: "relative CPU weight 1..10000" },
  { name: "cpuset", type: "string", value: "LIST", group: "Resources", help: "CPUs the jail may run on (e.g. 0,2-3)" },
  { name: "pids", type: "string", value: "N|unlimited", group: "Resources", default: `${RESOURCE_DEFAULTS.pids}, skipped where no cgroup can be made without configuration, as --verbose then says`, help: "maximum number of tasks (processes and threads) in the jail" },
  { name: "io-weight", type: "string", value: "N", group: "Resources", help: "relative I/O weight 1..10000 (where the io controller exists)" },
  { name: "cgroup-parent", type: "string", value: "PATH", group: "Resources", default: "the cgroup jailx runs in", help: "create the jail's cgroup beneath this one" },
  { name: "timeout", type: "string", value: "DURATION", group: "Resources", help: "wall-clock limit (e.g. 30s, 5m): then SIGTERM, 2 s grace, SIGKILL; exit 124" },
  { name: "rlimit", type: "string", repeat: true, value: "NAME=SOFT[:HARD]", group: "Resources", help: "set a resource limit (nofile, nproc, as, core, cpu, fsize, …; 'inf' for unlimited; sizes take k, m, g: as=1g); one value sets soft and hard, so the program cannot raise it back" },
  // Process
  { name: "as-pid-1", type: "bool", group: "Process", help: "run the program itself as PID 1 (no init; signals need handlers in the program)" },
  { name: "new-session", type: "bool", group: "Process", default: "on unless stdin is a terminal", help: "start the program in a new session: no controlling terminal, and kill(0) cannot reach jailx's caller (--no-new-session keeps the caller's session and process group)" },
  { name: "forking", type: "bool", group: "Process", help: "the program daemonizes (systemd's Type=forking): when it exits 0 leaving processes behind, the jail lives on while any process in it lives; signals go to the daemon's main process (--pid-file, else init's only child) and its status is jailx's" },
  { name: "pid-file", type: "string", value: "PATH", group: "Process", help: "where the daemon writes its main pid, inside the jail (implies --forking)" },
  { name: "pass-fd", type: "string", repeat: true, value: "N", group: "Process", help: "let the program inherit this file descriptor (only 0, 1, 2 otherwise)" },
];

export type ParsedOptions = Record<string, string | boolean | string[] | undefined>;

export interface ParsedRun {
  options: ParsedOptions;
  command: string[];
  help: boolean;
}

const BY_NAME = new Map(RUN_OPTIONS.map((o) => [o.name, o]));

function unknownOption(arg: string): UsageError {
  const known = ["help", ...RUN_OPTIONS.map((o) => o.name), ...RUN_OPTIONS.filter((o) => o.type === "bool").map((o) => `no-${o.name}`)];
  return new UsageError(`unknown option '${arg}'${arg.startsWith("--") ? didYouMean(arg.slice(2), known) : ""}: see 'jailx run --help'`);
}

/**
 * Parse `jailx run` arguments. Options come first; the command starts after `--` or at the
 * first argument that is not an option. Repeated flags are collected (citty keeps only the last).
 */
export function parseRunArgs(argv: readonly string[]): ParsedRun {
  const options: ParsedOptions = {};
  let help = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (arg === "-h" || arg === "--help") {
      help = true;
      continue;
    }
    if (arg === "-d") {
      options["detach"] = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      if (arg.startsWith("-") && arg !== "-") throw unknownOption(arg);
      break;
    }
    const eq = arg.indexOf("=");
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let negated = false;
    if (!BY_NAME.has(name) && name.startsWith("no-") && BY_NAME.get(name.slice(3))?.type === "bool") {
      name = name.slice(3);
      negated = true;
    }
    const spec = BY_NAME.get(name);
    if (!spec) throw unknownOption(`--${name}`);
    if (spec.type === "bool") {
      if (eq >= 0) throw new UsageError(`option '--${name}' takes no value (got '${arg}')`);
      options[name] = !negated;
      continue;
    }
    if (negated) throw new UsageError(`unknown option '--no-${name}': --${name} takes a value (see 'jailx run --help')`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next === "--") throw new UsageError(`option '--${name}' needs a value ${spec.value ?? ""}`.trimEnd());
      value = next;
      i++;
    }
    if (spec.repeat) ((options[name] ??= []) as string[]).push(value);
    else if (options[name] !== undefined) throw new UsageError(`option '--${name}' given twice ('${options[name]}' and '${value}'); give it once`);
    else options[name] = value;
  }
  return { options, command: argv.slice(i), help };
}

/** `jailx run --help`, every line within `width` columns (the caller passes the terminal's). */
export function runHelp(width = DEFAULT_WIDTH): string {
  const para = (text: string) => wrapWords(text, width);
  const lines = [
    ...para("Run a program in a jail: namespaces, a minimal read-only filesystem, dropped capabilities, no_new_privs, a seccomp filter and cgroup limits."),
    "",
    ...para("Usage: jailx run [options] [--] PROGRAM [ARGS...]"),
  ];
  const groups = [...new Set(RUN_OPTIONS.map((o) => o.group))];
  const rows = (group: string) => RUN_OPTIONS.filter((o) => o.group === group).map((o) => {
    const extra = [o.repeat ? "repeatable" : "", o.default ? `default: ${o.default}` : ""].filter(Boolean).join("; ");
    return [`--${o.name}${o.value ? ` ${o.value}` : ""}`, o.help + (extra ? ` (${extra})` : "")] as const;
  });
  // One column position for every group, so the whole list reads as one table.
  const left = leftColumn(groups.flatMap(rows));
  for (const group of groups) lines.push("", `${group}:`, ...twoColumns(rows(group), width, 2, left));
  lines.push("", ...para("Exit status: the program's own, 128+N when it died of signal N, 124 timeout, 125 jailx error, 126 program not executable, 127 program not found, 137 out of memory."));
  return lines.join("\n") + "\n";
}
