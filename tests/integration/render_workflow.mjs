// Loads a workflow JSON into a running ComfyUI's canvas in headless Chromium,
// screenshots it and reports what the frontend made of it.
//
//   node tests/integration/render_workflow.mjs URL WORKFLOW.json OUT.png [PROMPT_OUT.json]
//
// Prints one JSON line: {"missing": [...node types the frontend does not know],
// "nodes": N, "load_errors": [...console/page errors, failed requests and
// missing-node dialogs from loading the workflow on], "missing_models": [...the
// entries of the frontend's Missing Models panel, "folder / file" plus its note],
// "page_errors": [...the same from opening the page (an offline server has a few,
// e.g. user.css 404)]}
// and writes the API prompt the frontend builds from the graph (app.graphToPrompt)
// to PROMPT_OUT.json when given. Exits 1 when a node type is missing or loading
// the workflow logged an error.
//
// playwright-core is resolved from the current directory (npm install
// playwright-core there); Chromium from CHROMIUM (default /usr/bin/chromium).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "package.json"));
const { chromium } = require("playwright-core");

const [url, workflowPath, outPng, promptOut] = process.argv.slice(2);
if (!url || !workflowPath || !outPng) {
  console.error("usage: render_workflow.mjs URL WORKFLOW.json OUT.png [PROMPT_OUT.json]");
  process.exit(2);
}
const workflow = JSON.parse(readFileSync(workflowPath, "utf8"));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const errors = [];
const modelUrls = new Set(workflow.nodes.flatMap((n) => (n.properties?.models ?? []).map((m) => m.url)));
try {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(msg.text()); });
  page.on("pageerror", (err) => errors.push(String(err)));
  page.on("requestfailed", (req) => {
    const reason = req.failure()?.errorText;
    // A <video> preview cancels its own range requests (ERR_ABORTED); the panel's size queries are ours.
    if (reason === "net::ERR_ABORTED" && (req.url().includes("/api/view?") || modelUrls.has(req.url()))) return;
    errors.push(`request failed: ${req.url()} (${reason})`);
  });
  page.on("response", (res) => { if (res.status() >= 400) errors.push(`HTTP ${res.status()}: ${res.url()}`); });
  // A clean picture without touching the server's saved settings: no minimap,
  // canvas info or zoom toolbar in this page's copy of the settings.
  await page.route("**/api/settings", async (route) => {
    if (route.request().method() !== "GET") return route.continue();
    const reply = await route.fetch();
    const settings = { ...(await reply.json()), "Comfy.Minimap.Visible": false, "Comfy.Graph.CanvasInfo": false,
      "Comfy.Graph.CanvasMenu": false, "Comfy.TutorialCompleted": true,
      "LiteGraph.Canvas.MinFontSizeForLOD": 0 };  // full detail at any zoom
    await route.fulfill({ response: reply, json: settings });
  });
  // The Missing Models panel asks each declared model URL for its size; this machine may be
  // offline, so those requests (and only those) are answered here with an empty reply.
  await page.route((u) => modelUrls.has(u.href),
    (route) => route.fulfill({ status: 200, headers: { "content-length": "0" }, body: "" }));
  await page.goto(url, { waitUntil: "networkidle", timeout: 120000 });
  await page.waitForFunction(() => window.app && window.app.graph && window.LiteGraph, null, { timeout: 120000 });
  await page.keyboard.press("Escape");
  await page.waitForLoadState("networkidle");
  await page.waitForTimeout(3000); // the frontend's own start-up requests settle first

  const before = errors.length;
  const result = await page.evaluate(async (wf) => {
    const known = window.LiteGraph.registered_node_types;
    const missing = wf.nodes.map((n) => n.type).filter((t) => !(t in known));
    await window.app.loadGraphData(wf);
    const { output } = await window.app.graphToPrompt();
    return { missing, nodes: window.app.graph.nodes.length, output };
  }, workflow);

  await page.waitForTimeout(1000);
  const dialogs = await page.locator(".p-dialog").allInnerTexts();
  const missingModels = [];
  for (const text of dialogs) {
    const flat = text.replace(/\s+/g, " ");
    if (/missing models/i.test(flat)) missingModels.push(...(await page.locator(".comfy-missing-models li").allInnerTexts()));
    else if (/missing/i.test(flat)) errors.push("dialog: " + flat.slice(0, 500));
  }
  for (let i = 0; i < dialogs.length; i++) await page.keyboard.press("Escape");
  // Zoom so that every node fits, then shoot just the part of the canvas they cover.
  const clip = await page.evaluate(() => {
    const canvas = window.app.canvas;
    const nodes = window.app.graph.nodes;
    const title = window.LiteGraph.NODE_TITLE_HEIGHT;
    const x0 = Math.min(...nodes.map((n) => n.pos[0])), y0 = Math.min(...nodes.map((n) => n.pos[1] - title - 24));
    const x1 = Math.max(...nodes.map((n) => n.pos[0] + n.size[0])), y1 = Math.max(...nodes.map((n) => n.pos[1] + n.size[1]));
    const rect = canvas.canvas.getBoundingClientRect();
    const margin = 20;
    const scale = Math.min((rect.width - 2 * margin) / (x1 - x0), (rect.height - 2 * margin) / (y1 - y0), 1.5);
    canvas.ds.scale = scale;
    canvas.ds.offset = [margin / scale - x0, margin / scale - y0];
    canvas.setDirty(true, true);
    return { x: rect.left, y: rect.top, width: Math.ceil((x1 - x0) * scale + 2 * margin),
             height: Math.ceil((y1 - y0) * scale + 2 * margin) };
  });
  await page.waitForTimeout(500);
  await page.screenshot({ path: outPng, clip });
  if (promptOut) writeFileSync(promptOut, JSON.stringify(result.output, null, 1));
  const loadErrors = errors.slice(before);
  console.log(JSON.stringify({ missing: result.missing, nodes: result.nodes, load_errors: loadErrors,
    missing_models: missingModels,
    page_errors: errors.slice(0, before) }));
  process.exitCode = result.missing.length || loadErrors.length ? 1 : 0;
} finally {
  await browser.close();
}
