// Pure parts of named-jail management: names, signals, systemd quoting, state paths.
import { describe, expect, test } from "bun:test";
import { generateName, statePath, validateName } from "../../jail/state.ts";
import { parseSignal } from "../../jail/control.ts";
import { systemdWord } from "../../cmd/unit.ts";
import { parseExecArgs } from "../../cmd/exec.ts";

describe("names", () => {
  test.each(["web", "a", "Web-1.prod_2", "x".repeat(63)])("valid: %p", (n) => expect(validateName(n)).toBe(n));
  test.each(["", "a/b", "..", ".hidden", "-x", "a b", "a\nb", "a\x1b[2Jb", "é", "x".repeat(64)])("refused: %p", (n) => {
    expect(() => validateName(n)).toThrow(/jail name/);
    try {
      validateName(n);
    } catch (e) {
      // the message shows control characters escaped, on one line
      expect((e as Error).message).not.toMatch(/[\x00-\x1f]/);
    }
  });
  test("generated names are valid and short", () => {
    for (let i = 0; i < 100; i++) expect(validateName(generateName())).toMatch(/^jx-[a-z0-9]{6}$/);
  });
});

describe("state path", () => {
  test("root, rootless, override", () => {
    expect(statePath({}, 0)).toBe("/run/jailx");
    expect(statePath({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000)).toBe("/run/user/1000/jailx");
    expect(statePath({ JAILX_STATE_DIR: "/x" }, 1000)).toBe("/x");
    expect(() => statePath({}, 1000)).toThrow(/XDG_RUNTIME_DIR is not set/);
  });
});

describe("signals", () => {
  test.each([["TERM", 15], ["sigterm", 15], ["SIGHUP", 1], ["9", 9], ["usr1", 10], ["WINCH", 28], ["64", 64]] as const)("%p → %p", (s, n) => expect(parseSignal(s)).toBe(n));
  test.each(["0", "65", "FOO", "", "-9"])("refused: %p", (s) => expect(() => parseSignal(s)).toThrow(/signal/));
});

describe("systemd ExecStart words", () => {
  test.each([
    ["/usr/bin/jailx", "/usr/bin/jailx"],
    ["--memory=64m", "--memory=64m"],
    ["echo $HOME", '"echo $$HOME"'],
    ["100%", "100%%"],
    ['say "hi"', '"say \\"hi\\""'],
    ["a\\b", '"a\\\\b"'],
    ["", '""'],
  ])("%p → %p", (a, w) => expect(systemdWord(a)).toBe(w));
});

describe("exec arguments", () => {
  test("name, options, command", () => {
    expect(parseExecArgs(["web", "--user", "nobody", "-t", "--", "sh", "-c", "x"])).toMatchObject({ name: "web", user: "nobody", tty: true, command: ["sh", "-c", "x"] });
    expect(parseExecArgs(["web", "ls", "-l"])).toMatchObject({ name: "web", command: ["ls", "-l"] });
  });
  test.each([[[]], [["web"]], [["web", "--bogus", "--", "x"]], [["web", "--user"]]])("refused: %p", (a) => expect(() => parseExecArgs(a)).toThrow());
});
