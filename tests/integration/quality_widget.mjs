// Checks web/quality_table.js in the real ComfyUI frontend (headless Chromium): a
// LatentSync_LipSyncQuality node given its "text" UI output twice shows the latest table
// in one read-only box, which is neither sent with the prompt nor saved in the workflow.
//
//   node tests/integration/quality_widget.mjs URL OUT.png
//
// Prints one JSON line: widget names before/after, the box's value, the prompt's inputs
// for the node, its saved widgets_values, and page errors raised by these steps.
// playwright-core is resolved from the current directory; Chromium from CHROMIUM.
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "package.json"));
const { chromium } = require("playwright-core");

const [url, outPng] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.on("pageerror", (err) => errors.push(String(err)));
  await page.goto(url, { waitUntil: "networkidle", timeout: 120000 });
  await page.waitForFunction(() => window.app && window.app.graph && window.LiteGraph, null, { timeout: 120000 });
  await page.waitForTimeout(3000);
  await page.keyboard.press("Escape");
  const before = errors.length;
  const result = await page.evaluate(async () => {
    window.app.graph.clear();
    const node = window.LiteGraph.createNode("LatentSync_LipSyncQuality");
    window.app.graph.add(node);
    node.pos = [50, 50];
    const widgetsBefore = node.widgets.map((w) => w.name);
    node.onExecuted({ text: ["first run"] });
    node.onExecuted({ text: ["quality report: 3 frames\nmetric  value"] });
    node.setSize([600, 240]);
    const box = node.widgets.find((w) => w.name === "report");
    const { output, workflow } = await window.app.graphToPrompt();
    return {
      before: widgetsBefore,
      after: node.widgets.map((w) => w.name),
      value: box?.value,
      read_only: box?.inputEl?.readOnly ?? null,
      prompt_inputs: Object.keys(Object.values(output)[0].inputs),
      saved: workflow.nodes[0].widgets_values,
    };
  });
  await page.waitForTimeout(500);
  await page.screenshot({ path: outPng });
  console.log(JSON.stringify({ ...result, errors: errors.slice(before) }));
} finally {
  await browser.close();
}
