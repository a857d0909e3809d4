// The dashboard with auth on, in a real browser: a call refused with 401 shows the login page;
// logging in as admin (password announced once by the server) lists the services.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createLogger } from "@micro-ts/micro";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { DASHBOARD_DIST, startServer, type RunningServer } from "../packages/server/src/server.js";
import { ROOT } from "./helpers.js";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const SHOTS = join(ROOT, "test-results");
const missing = !existsSync(CHROMIUM);
if (missing && process.env["CI"]) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);

describe("dashboard with auth on", { skip: missing ? `no ${CHROMIUM}: apt-get install chromium` : false }, () => {
  let dir: string;
  let server: RunningServer;
  let ctx: BrowserContext;
  let page: Page;
  let password = "";

  before(async () => {
    if (!existsSync(join(DASHBOARD_DIST, "index.html"))) {
      const b = spawnSync("npm", ["run", "-w", "@micro-ts/dashboard", "build"], { cwd: ROOT, encoding: "utf8" });
      assert.equal(b.status, 0, `dashboard build failed:\n${b.stdout}\n${b.stderr}`);
    }
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), "micro-dash-login-"));
    server = await startServer({
      dataDir: dir,
      address: "127.0.0.1:0",
      gatewayAddress: "127.0.0.1:0",
      auth: true,
      announceAdmin: (_id, pw) => (password = pw),
      logger: createLogger({ level: "silent" }),
    });
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
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("asks for a login, refuses a wrong secret, and lists the services after logging in", async () => {
    assert.ok(password.length > 0, "the admin password was announced");
    await page.goto(`http://${server.dashboardAddress}/`);
    const secret = page.locator('input[name="secret"]');
    await secret.waitFor();
    assert.equal(await page.locator('tr[data-service="registry"]').count(), 0, "nothing listed before logging in");
    await page.screenshot({ path: join(SHOTS, "dashboard-login.png") });
    await secret.fill("not-the-password");
    await page.locator('button[type="submit"]', { hasText: "Log in" }).click();
    await page.getByText(/401|Unauthorized|invalid/i).first().waitFor();
    await secret.fill(password);
    await page.locator('button[type="submit"]', { hasText: "Log in" }).click();
    await page.locator('tr[data-service="registry"]').waitFor();
  });
});
