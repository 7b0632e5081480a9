// docs/INSPECT.md carries a copy of the check table and the schema versions: keep them in sync.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { CHECKS } from "../../inspect/checks.ts";
import { LIST_SCHEMA, SCHEMA } from "../../inspect/json.ts";
import { LABELS } from "../../inspect/score.ts";

const doc = readFileSync(`${import.meta.dir}/../../docs/INSPECT.md`, "utf8");

test("every check is documented with its layer, weight, range and texts", () => {
  for (const c of CHECKS) expect(doc).toContain(`| \`${c.id}\` | ${c.layer} | ${c.weight} | ${c.range} | ${c.good} | ${c.bad} |`);
  const documented = [...doc.matchAll(/^\| `([a-z_.-]+)` \| [a-z]+ \| \d+ \|/gm)].map((m) => m[1]);
  expect(documented).toEqual(CHECKS.map((c) => c.id));
});

test("schema versions and labels are the documented ones", () => {
  expect(doc).toContain(`"schema": "${SCHEMA}"`);
  expect(doc).toContain(`"schema": "${LIST_SCHEMA}"`);
  for (const l of LABELS) expect(doc).toContain(`| ${l.label} |`);
});
