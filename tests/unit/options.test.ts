// The run argument parser: repeated flags, `--`, booleans, errors; and --help lists every flag.
import { expect, test } from "bun:test";
import { RUN_OPTIONS, parseRunArgs, runHelp } from "../../jail/options.ts";
import { UsageError } from "../../sys/errors.ts";

test("repeated flags are collected in order; the command starts after --", () => {
  const r = parseRunArgs(["--bind", "/a", "--bind=/b", "--verbose", "--", "df", "-h", "--help"]);
  expect(r.options).toEqual({ bind: ["/a", "/b"], verbose: true });
  expect(r.command).toEqual(["df", "-h", "--help"]);
  expect(r.help).toBe(false);
});

test("the command may start at the first non-option", () => {
  expect(parseRunArgs(["--net", "none", "ls", "-l"]).command).toEqual(["ls", "-l"]);
});

test("--no-FLAG negates a boolean", () => {
  expect(parseRunArgs(["--no-userns", "--", "x"]).options.userns).toBe(false);
});

test("errors name the bad argument", () => {
  expect(() => parseRunArgs(["--nope"])).toThrow("unknown option '--nope'");
  expect(() => parseRunArgs(["-x"])).toThrow("unknown option '-x'");
  expect(() => parseRunArgs(["--bind"])).toThrow("needs a value");
  expect(() => parseRunArgs(["--hostname", "a", "--hostname", "b"])).toThrow("given twice");
  expect(() => parseRunArgs(["--verbose=1"])).toThrow(UsageError);
});

test("--help lists every option with its default", () => {
  const help = runHelp().replace(/\s+/g, " "); // wrapped to 80 columns
  for (const o of RUN_OPTIONS) {
    expect(help).toContain(`--${o.name}`);
    if (o.default) expect(help).toContain(`default: ${o.default}`);
  }
});
