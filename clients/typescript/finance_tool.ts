// A finance tool's whole job through a client typed from govtrack's schema (openapi-typescript + openapi-fetch),
// and nothing else: create a funder and a grant with milestones, walk the milestones page by page, download them
// as CSV, post a KPI reading. Type-checked with tsc, then run against a live server (scripts/api_clients.sh).
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Milestone = components["schemas"]["Milestone"];

const MILESTONES = 5;
const env = (globalThis as unknown as { process: { env: Record<string, string | undefined>; exit(code: number): never } })
  .process;

function fail(message: string): never {
  console.error(message);
  return env.exit(1);
}

function cursorOf(link: string | null | undefined): string | undefined {
  if (!link) return undefined;
  return new URL(link).searchParams.get("cursor") ?? undefined;
}

async function main(): Promise<void> {
  const client = createClient<paths>({
    baseUrl: env.env.GOVTRACK_URL ?? fail("GOVTRACK_URL is not set"),
    headers: { Authorization: `Bearer ${env.env.GOVTRACK_TOKEN ?? fail("GOVTRACK_TOKEN is not set")}` },
  });
  const run = Math.random().toString(16).slice(2, 10);

  const funder = await client.POST("/api/v1/funders/", { body: { name: `Agency ${run}`, kind: "foundation" } });
  if (!funder.data) return fail(`creating the funder failed: ${JSON.stringify(funder.error)}`);
  const grant = await client.POST("/api/v1/grants/", {
    params: { header: { "Idempotency-Key": `grant-${run}` } },
    body: {
      funder: funder.data.id,
      title: `Edge inference pilot ${run}`,
      currency: "EUR",
      amount_requested: "100000.00",
      period_start: "2026-01-01",
      period_end: "2026-12-31",
    },
  });
  if (!grant.data) return fail(`creating the grant failed: ${JSON.stringify(grant.error)}`);
  const grantId = grant.data.id;
  const created: string[] = [];
  for (let n = 0; n < MILESTONES; n++) {
    const month = String(2 * n + 1).padStart(2, "0");
    const milestone = await client.POST("/api/v1/milestones/", {
      body: { grant: grantId, title: `M${n}`, amount: "10000.00", due_date: `2026-${month}-15` },
    });
    if (!milestone.data) return fail(`creating a milestone failed: ${JSON.stringify(milestone.error)}`);
    created.push(milestone.data.id);
  }

  const seen: Milestone[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.GET("/api/v1/milestones/", {
      params: { query: { grant: grantId, ordering: ["-due_date"], page_size: 2, cursor } },
    });
    // The list answers JSON or, asked for `format=csv`, CSV text: the schema types both, so the page is narrowed.
    if (!page.data || typeof page.data === "string") return fail(`listing failed: ${JSON.stringify(page.error)}`);
    seen.push(...page.data.results);
    pages += 1;
    cursor = cursorOf(page.data.next);
  } while (cursor);
  if (seen.length !== MILESTONES || pages !== 3 || new Set(seen.map((m) => m.id)).size !== MILESTONES) {
    return fail(`the walk returned ${seen.length} milestones in ${pages} pages`);
  }
  if (seen.some((m, i) => i > 0 && m.due_date > (seen[i - 1]?.due_date ?? ""))) fail("not sorted by -due_date");

  const csv = await client.GET("/api/v1/milestones/", {
    params: { query: { grant: grantId, format: "csv" } },
    parseAs: "text",
  });
  const lines = (csv.data ?? "").trim().split(/\r?\n/);
  if (!csv.response.headers.get("content-type")?.startsWith("text/csv") || lines.length !== MILESTONES + 1) {
    return fail(`the CSV export has ${lines.length} lines`);
  }

  const reading = await client.POST("/api/v1/kpi-readings/", {
    body: {
      metric: "revenue",
      value: "125000.50",
      unit: "EUR",
      period_start: "2026-07-01",
      period_end: "2026-07-31",
      source: `finance-tool-${run}`,
    },
  });
  if (!reading.data) return fail(`posting the KPI reading failed: ${JSON.stringify(reading.error)}`);
  console.log(
    `typescript client: grant ${grantId} with ${created.length} milestones, walked in ${pages} pages, ` +
      `CSV of ${lines.length - 1} rows, KPI reading ${reading.data.id} (${reading.data.value})`,
  );
}

await main();
