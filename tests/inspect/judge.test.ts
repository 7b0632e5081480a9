// Pure judging logic: parsers, the scoring loop, labels, expectations.
import { describe, expect, test } from "bun:test";
import { capNames } from "../../inspect/caps.ts";
import type { Check } from "../../inspect/checks.ts";
import { CHECKS, NA } from "../../inspect/checks.ts";
import { parseExpectations, violations } from "../../inspect/expect.ts";
import { mountAt, parseLimits, parseMountinfo, parseNsLink, parseStat, parseStatus } from "../../inspect/parse.ts";
import { exposureOf, labelOf, score } from "../../inspect/score.ts";
import { unknown, type Snapshot } from "../../inspect/snapshot.ts";
import { rowOf } from "../../inspect/list.ts";
import { fixtureReport, fixtureSnapshot } from "./fixtures.ts";

describe("parsers", () => {
  test("stat: a comm with spaces and parentheses", () => {
    const s = parseStat("77 (a) b (c) S 5 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0");
    expect(s).toEqual({ comm: "a) b (c", state: "S", ppid: 5, startTime: "4242" });
  });
  test("status: fields by key, in kernel order or not", () => {
    const st = parseStatus("Name:\tcat\nUmask:\t0022\nPPid:\t7\nUid:\t1\t2\t3\t4\nNoNewPrivs:\t1\n");
    expect(Object.fromEntries(st)).toEqual({ Name: "cat", PPid: "7", Uid: "1\t2\t3\t4", NoNewPrivs: "1" });
    expect(parseStatus("Uid:\t5\nName:\tx\n").get("Uid")).toBe("5");
  });
  test("namespace links", () => {
    expect(parseNsLink("net:[4026531833]", "net")).toBe(4026531833);
    expect(() => parseNsLink("mnt:[4026531833]", "net")).toThrow("unexpected ns link");
    expect(() => parseNsLink("net:[x]", "net")).toThrow("unexpected ns link");
  });
  test("capability masks decode to names, unknown bits kept", () => {
    expect(capNames("0000000000200000")).toEqual(["sys_admin"]);
    expect(capNames("0")).toEqual([]);
    expect(capNames("20000000000")).toEqual(["cap_41"]);
  });
  test("mountinfo: octal escapes, optional fields, a mount stacked on the root is not visible", () => {
    const m = parseMountinfo(
      "46 45 254:0 / / ro,relatime shared:1 - ext4 /dev/vda rw\n" +
        "47 46 0:5 /a\\040b /mnt/x\\040y rw master:2 - tmpfs none rw\n" +
        "92 46 254:0 / / rw,relatime - ext4 /dev/vda rw\n",
    );
    expect(m[1]).toMatchObject({ root: "/a b", mountPoint: "/mnt/x y", fsType: "tmpfs" });
    expect(mountAt(m, "/")!.id).toBe(46);
    expect(mountAt(m, "/mnt/x y")!.id).toBe(47);
  });
  test("limits: names with spaces", () => {
    const l = parseLimits("Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 4096                 files     \n");
    expect(l["open files"]).toEqual({ soft: "1024", hard: "4096" });
  });
});

describe("scoring loop", () => {
  const snap = {} as Snapshot;
  const c = (id: string, weight: number, range: number, a: ReturnType<Check["assess"]>): Check => ({
    id, layer: "namespaces", weight, range, good: "g", bad: "b", assess: () => a,
  });
  test("weighted badness over applicable checks, ×10, one decimal", () => {
    const s = score(snap, [c("a", 1000, 1, { badness: 1 }), c("b", 3000, 1, { badness: 0 }), c("c", 500, 2, NA), c("d", 100, 1, unknown("EACCES"))]);
    expect(s.exposure).toBe(2.5);
    expect(s.assessed).toBe(2); // a check that does not apply is not "assessed"
    expect(s.na).toBe(1);
    expect(s.unknown).toBe(1);
    // the unknown check (weight 100) could be anything: 1000/4100 .. 1100/4100
    expect(s.range).toEqual({ min: 2.4, max: 2.7 });
    expect(s.unknownWeight).toBe(0.02);
    expect(s.results.map((r) => r.status)).toEqual(["bad", "good", "na", "unknown"]);
  });
  test("the --all fast path gives the same number as the full loop", () => {
    for (const f of ["privileged", "bwrap-unshare-all", "all-layers", "unreadable"]) {
      const s = fixtureSnapshot(f);
      const full = score(s);
      expect(exposureOf(s)).toEqual({ exposure: full.exposure, label: full.label, range: full.range, unknownWeight: full.unknownWeight });
    }
  });
  test("badness within a range counts proportionally", () => {
    expect(score(snap, [c("a", 100, 4, { badness: 1 })]).exposure).toBe(2.5);
  });
  test("nothing assessable gives no number", () => {
    expect(score(snap, [c("a", 100, 1, unknown("x"))]).exposure).toBeNull();
  });
  test("labels", () => {
    expect([0, 0.9, 1, 4.9, 5, 7.5, 9, 10].map(labelOf)).toEqual(["SAFE", "SAFE", "OK", "OK", "MEDIUM", "EXPOSED", "UNSAFE", "UNSAFE"]);
  });
  test("check ids are unique and weights positive", () => {
    expect(new Set(CHECKS.map((x) => x.id)).size).toBe(CHECKS.length);
    expect(CHECKS.every((x) => x.weight > 0 && x.range > 0)).toBe(true);
  });
  test("a check table is data: scoring the fixture with a subset changes the number", () => {
    const s = fixtureSnapshot("all-layers");
    expect(score(s, CHECKS.filter((x) => x.id === "seccomp")).exposure).toBe(0);
    expect(score(s, CHECKS.filter((x) => x.id === "ns.user")).exposure).toBe(10);
  });
});

describe("--all rows", () => {
  test("processes with the same facts share a verdict; any judged fact changes it", () => {
    const base = fixtureSnapshot("all-layers");
    const users = new Map<number, string>();
    const a = rowOf({ ...base, pid: 5001 }, users);
    const b = rowOf({ ...base, pid: 5002 }, users);
    expect({ ...a, pid: 0 }).toEqual({ ...b, pid: 0 });
    expect(a.exposure).toBe(exposureOf(base).exposure);
    const noNnp = rowOf({ ...base, pid: 5003, noNewPrivs: false }, users);
    expect(noNnp.nnp).toBe(false);
    expect(noNnp.exposure!).toBeGreaterThan(a.exposure!);
    const otherNet = rowOf({ ...base, pid: 5004, ns: { ...base.ns, net: 4026531833 } }, users);
    expect(otherNet.ns.net).toBe("shared");
  });
});

describe("expectations", () => {
  const exp = (o: object) => parseExpectations(o, "t.toml");
  test("a contained process meets them; a privileged one lists each violation", () => {
    const e = exp({ separate_namespaces: ["net", "pid"], forbid_caps: ["CAP_SYS_ADMIN"], seccomp: true, no_new_privs: true, max_exposure: 5 });
    expect(violations(fixtureReport("all-layers"), e)).toEqual([]);
    expect(violations(fixtureReport("privileged"), e)).toEqual([
      "net namespace: shared with the host (compared with kthreadd (PID 2))",
      "pid namespace: shared with the host (compared with kthreadd (PID 2))",
      "cap_sys_admin: usable (effective/permitted/ambient)",
      "seccomp: expected yes, found no",
      "no_new_privs: expected yes, found no",
      expect.stringMatching(/^exposure: 10\.0 is above 5$/),
    ]);
  });
  test("unknown facts are violations that say why", () => {
    expect(violations(fixtureReport("unreadable"), exp({ separate_namespaces: ["net"] }))).toEqual([
      "net namespace: cannot verify, unknown (EACCES: run as root)",
    ]);
  });
  test("bad files are usage errors naming the key", () => {
    expect(() => exp({ seccom: true })).toThrow("unknown key 'seccom'");
    expect(() => exp({ seccomp: "yes" })).toThrow("'seccomp' must be a boolean");
    expect(() => exp({ separate_namespaces: ["network"] })).toThrow("unknown namespace 'network'");
  });
});

describe("/proc masking facts", () => {
  const mi = [
    "20 1 0:30 / / ro - tmpfs none ro",
    "21 20 0:31 / /proc rw - proc proc rw",
    "22 21 0:5 /null /proc/keys ro - devtmpfs udev rw",
    "23 21 0:31 /sys /proc/sys ro - proc proc rw",
  ].join("\n");
  test("an entry the kernel lacks is neither masked nor visible", async () => {
    const { procFacts } = await import("../../inspect/facts.ts");
    const m = parseMountinfo(mi);
    expect(procFacts(m).unmasked).toEqual(["/proc/kcore", "/proc/sysrq-trigger", "/proc/timer_list"]);
    expect(procFacts(m, ["/proc/keys", "/proc/timer_list"])).toMatchObject({ masked: ["/proc/keys"], unmasked: ["/proc/timer_list"], sysWritable: false });
  });
});
