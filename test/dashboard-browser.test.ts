// The dashboard in a real browser: Debian's chromium driven by playwright-core against
// `startServer` and a greeter registered through it (MICRO_SERVER). Screenshots go to test-results/.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createLogger, errors, Service } from "@micro-ts/micro";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { DASHBOARD_DIST, startServer, type RunningServer } from "../packages/server/src/server.js";
import { ROOT } from "./helpers.js";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const SHOTS = join(ROOT, "test-results");
const missing = !existsSync(CHROMIUM);
if (missing && process.env["CI"]) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);

let greeter: Service;

class Greeter {
  async hello(req: { name: string }): Promise<{ msg: string }> {
    if (!req.name) throw errors.badRequest("greeter.hello", "name is required");
    greeter.logger.info("greeted", { name: req.name });
    return { msg: `Hello ${req.name}` };
  }
  async *count(req: { to: number }): AsyncGenerator<{ n: number }> {
    for (let i = 1; i <= req.to; i++) yield { n: i };
  }
}

describe("dashboard in a browser", { skip: missing ? `no ${CHROMIUM}: apt-get install chromium` : false }, () => {
  let dir: string;
  let server: RunningServer;
  let ctx: BrowserContext;
  let page: Page;
  let base: string;

  before(async () => {
    if (!existsSync(join(DASHBOARD_DIST, "index.html"))) {
      const b = spawnSync("npm", ["run", "-w", "@micro-ts/dashboard", "build"], { cwd: ROOT, encoding: "utf8" });
      assert.equal(b.status, 0, `dashboard build failed:\n${b.stdout}\n${b.stderr}`);
    }
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), "micro-dash-browser-"));
    server = await startServer({ dataDir: dir, address: "127.0.0.1:0", gatewayAddress: "127.0.0.1:0", logger: createLogger({ level: "silent" }) });
    base = `http://${server.dashboardAddress}`;
    process.env["MICRO_SERVER"] = server.address;
    greeter = new Service({ name: "greeter", version: "1.0.0", logger: createLogger({ level: "info", fields: { service: "greeter" }, out: { write: () => true } }) });
    greeter.handle(new Greeter());
    await greeter.start();
    ctx = await chromium.launchPersistentContext(join(dir, "chromium-profile"), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 680 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await ctx?.close();
    await greeter?.stop();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("lists the greeter among the services", async () => {
    await page.goto(`${base}/`);
    const row = page.locator('tr[data-service="greeter"]');
    await row.waitFor();
    assert.match(await row.innerText(), /greeter[\s\S]*1\.0\.0[\s\S]*\b1\b/);
    await page.locator('tr[data-service="registry"]').waitFor();
    await page.screenshot({ path: join(SHOTS, "dashboard-services.png") });
  });

  it("calls Greeter.Hello through the form and shows the response", async () => {
    await page.locator('tr[data-service="greeter"] a', { hasText: "greeter" }).click();
    await page.waitForURL(/#\/services\/greeter$/);
    await page.locator('[data-endpoint="Greeter.Hello"]').waitFor();
    await page.selectOption('select[name="endpoint"]', "Greeter.Hello");
    await page.fill('textarea[name="request"]', '{"name":"Ada"}');
    await page.click('[data-testid="call-form"] button[type="submit"]');
    const rsp = page.locator('[data-testid="response"]');
    await rsp.waitFor();
    assert.deepEqual(JSON.parse(await rsp.innerText()), { msg: "Hello Ada" });
    await page.screenshot({ path: join(SHOTS, "dashboard-service.png"), fullPage: true });
  });

  it("streams Greeter.Count over a WebSocket", async () => {
    await page.selectOption('select[name="endpoint"]', "Greeter.Count");
    await page.fill('textarea[name="request"]', '{"to":3}');
    await page.click('[data-testid="call-form"] button[type="submit"]');
    const items = page.locator('[data-testid="stream"] li');
    await items.nth(2).waitFor();
    assert.deepEqual(await items.allInnerTexts(), ['{"n":1}', '{"n":2}', '{"n":3}']);
  });

  it("shows the log line the call produced", async () => {
    await page.goto(`${base}/#/logs/greeter`);
    const line = page.locator('[data-testid="logs"] .log', { hasText: "greeted" });
    await line.first().waitFor();
    assert.match(await line.first().innerText(), /info\s+greeted\s+.*name=Ada/);
    await page.screenshot({ path: join(SHOTS, "dashboard-logs.png") });
  });

  it("renders the traces, store, config and events pages", async () => {
    await page.goto(`${base}/#/traces?service=greeter`);
    await page.locator('[data-testid="traces"]').waitFor();
    const trace = page.locator('[data-testid="traces"] a').first();
    if (await trace.count()) {
      await trace.click();
      await page.locator('[data-testid="waterfall"] .span-row').first().waitFor();
    }
    await page.screenshot({ path: join(SHOTS, "dashboard-trace.png") });

    await fetch(`${base}/api/rpc`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: "config", endpoint: "Config.Set", request: { path: "greeter", value: { greeting: "Hi", db: { host: "db.local", password: "hunter2" } } } }),
    });
    await page.goto(`${base}/#/config`);
    const cfg = page.locator('[data-testid="config"]');
    await page.locator('[data-testid="config"]', { hasText: "db.local" }).waitFor();
    assert.doesNotMatch(await cfg.innerText(), /hunter2/);
    await page.screenshot({ path: join(SHOTS, "dashboard-config.png") });

    await page.goto(`${base}/#/store/micro/config`);
    await page.locator('[data-testid="store"] button.link', { hasText: "config" }).click();
    await page.locator('[data-testid="store-value"]', { hasText: "db.local" }).waitFor();
    assert.doesNotMatch(await page.locator('[data-testid="store-value"]').innerText(), /hunter2/);
    await page.screenshot({ path: join(SHOTS, "dashboard-store.png") });

    await page.goto(`${base}/#/events/orders`);
    await page.locator(".badge.ok", { hasText: "live" }).waitFor();
    await page.fill("form textarea", '{"order":42}');
    await page.click('form button[type="submit"]');
    await page.locator('[data-testid="events"] td', { hasText: '{"order":42}' }).waitFor();
    await page.screenshot({ path: join(SHOTS, "dashboard-events.png") });
  });
});
