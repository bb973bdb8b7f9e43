// The three-step upload in real headless Chromium (Debian's, driven by playwright-core) against
// the local stack with S3 signature checks on: page -> API -> presigned PUT to LocalStack -> confirm.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const WEB_URL = process.env.WEB_URL;
const OTHER_ORIGIN_WEB_URL = process.env.OTHER_ORIGIN_WEB_URL;
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url).pathname;
assert.ok(WEB_URL && OTHER_ORIGIN_WEB_URL, "run the browser tests with `make test`");

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
});
after(async () => browser?.close());

const newUser = () => `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** A small but real one-page PDF (with a correct cross-reference table). */
function samplePdf(text) {
  const stream = `BT /F1 12 Tf 72 720 Td (${text}) Tj ET`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let pdf = "%PDF-1.4\n";
  const offsets = objects.map((body, i) => {
    const offset = pdf.length;
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return offset;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  pdf += offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("");
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, "latin1");
}

/* Every page records its console errors, uncaught errors and failed HTTP answers; `done`
 * closes it and fails the test on any that the test did not declare with `expectErrors`
 * (an upload refused on purpose logs its 413, a blocked PUT its CORS error). */
const problems = new WeakMap();

async function newPage() {
  const page = await browser.newPage();
  const seen = { errors: [], expected: [] };
  problems.set(page, seen);
  page.on("console", (message) => { if (message.type() === "error") seen.errors.push(`console: ${message.text()}`); });
  page.on("pageerror", (error) => seen.errors.push(`page error: ${error.stack ?? error.message}`));
  page.on("response", (response) => {
    if (response.status() >= 400) seen.errors.push(`HTTP ${response.status()} ${response.request().method()} ${response.url()}`);
  });
  return page;
}

function expectErrors(page, ...patterns) {
  problems.get(page).expected.push(...patterns);
}

async function done(page) {
  const { errors, expected } = problems.get(page);
  await page.close();
  const unexpected = errors.filter((error) => !expected.some((pattern) => pattern.test(error)));
  assert.deepEqual(unexpected, [], "no console error, page error or failed request");
}

async function signedInPage(url, user) {
  const page = await newPage();
  await page.goto(url);
  await page.fill("#user-name", user);
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForFunction(() => document.querySelector("#quota-text").dataset.used !== undefined);
  return page;
}

const usedBytes = (page) => page.$eval("#quota-text", (el) => Number(el.dataset.used));

const isConfirm = (request) => request.method() === "POST" && /\/confirm$/.test(new URL(request.url()).pathname);

test("uploads a PDF and a text file, lists them, moves the quota, deletes one", async () => {
  const page = await signedInPage(WEB_URL, newUser());
  // Files sent in one PUT are confirmed by their arrival in storage: the page never calls confirm.
  let confirms = 0;
  page.on("request", (request) => { if (isConfirm(request)) confirms += 1; });
  const pdf = samplePdf("Quarterly report");
  const text = Buffer.from("Meeting notes: ship the upload page.\n");
  await page.setInputFiles("#files", [
    { name: "report.pdf", mimeType: "application/pdf", buffer: pdf },
    { name: "notes.txt", mimeType: "text/plain", buffer: text },
  ]);
  await page.click("#upload-form button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("#uploads li[data-status=uploaded]").length === 2);
  await page.waitForFunction(() => document.querySelectorAll("#documents tr .status.uploaded").length === 2);
  await page.waitForFunction((total) => Number(document.querySelector("#quota-text").dataset.used) === total,
    pdf.length + text.length);
  assert.match(await page.textContent("#quota-text"), /used/);
  const names = await page.$$eval("#documents tr td:first-child", (cells) => cells.map((c) => c.textContent));
  assert.deepEqual(names.sort(), ["notes.txt", "report.pdf"]);
  assert.equal(confirms, 0, "no confirm request for single uploads");
  await page.screenshot({ path: `${ARTIFACTS}upload-page.png`, fullPage: true });

  await page.click("#documents tr:has-text('notes.txt') button");
  await page.waitForFunction(() => document.querySelectorAll("#documents tr").length === 1);
  await page.waitForFunction((total) => Number(document.querySelector("#quota-text").dataset.used) === total, pdf.length);
  await done(page);
});

test("an upload that does not fit shows the 413 figures and charges nothing", async () => {
  const user = newUser();
  // A per-user limit of 1000 bytes, set with the project's admin tool.
  execFileSync("cargo", ["run", "--quiet", "-p", "shared", "--bin", "set-user-limit", "--", user, "1000"], { stdio: "pipe" });
  const page = await signedInPage(WEB_URL, user);
  expectErrors(page, /413/);
  await page.setInputFiles("#files", [{ name: "big.txt", mimeType: "text/plain", buffer: Buffer.alloc(2000, "x") }]);
  await page.click("#upload-form button[type=submit]");
  const message = await page.waitForSelector("#messages .message.error");
  const text = await message.textContent();
  assert.match(text, /Not enough storage: 0 B of 1000 B used, and this file needs 2\.0 KB/);
  assert.equal(await page.$$eval("#uploads li", (items) => items.length), 0, "no half-shown upload");
  assert.equal(await page.$$eval("#documents tr", (rows) => rows.length), 0);
  assert.equal(await usedBytes(page), 0);
  await done(page);
});

test("a .pdf that is really text is refused with the 415 message, and nothing is charged", async () => {
  const page = await signedInPage(WEB_URL, newUser());
  expectErrors(page, /415/);
  await page.setInputFiles("#files", [
    { name: "minutes.pdf", mimeType: "application/pdf", buffer: Buffer.from("Minutes: nothing to report.\n") },
  ]);
  await page.click("#upload-form button[type=submit]");
  const message = await page.waitForSelector("#messages .message.error");
  assert.match(await message.textContent(), /declared as application\/pdf but its content is text/);
  // Refused when its object arrived: the list shows it rejected.
  await page.waitForSelector("#documents tr:has-text('minutes.pdf') .status.rejected");
  assert.equal(await usedBytes(page), 0);
  await done(page);
});

const isPartPut = (request) => request.method() === "PUT" && request.url().includes("partNumber=");
const partNumberOf = (request) => Number(new URL(request.url()).searchParams.get("partNumber"));
const MIB = 1024 * 1024;

test("a 40 MB file goes up in parts, several at a time, and is charged once", async () => {
  const page = await signedInPage(WEB_URL, newUser());
  const size = 40 * MIB;
  let confirms = 0;
  page.on("request", (request) => { if (isConfirm(request)) confirms += 1; });
  let puts = 0;
  let inFlight = 0;
  let mostInFlight = 0;
  page.on("request", (request) => {
    if (!isPartPut(request)) return;
    puts += 1;
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
  });
  const finished = (request) => { if (isPartPut(request)) inFlight -= 1; };
  page.on("requestfinished", finished);
  page.on("requestfailed", finished);
  await page.setInputFiles("#files", [{ name: "big.txt", mimeType: "text/plain", buffer: Buffer.alloc(size, "x") }]);
  await page.click("#upload-form button[type=submit]");
  await page.waitForSelector("#uploads li[data-status=uploaded]", { timeout: 120_000 });
  assert.equal(puts, 5, "five parts of 8 MiB");
  assert.equal(confirms, 1, "an upload in parts is confirmed by the page");
  assert.ok(mostInFlight >= 2, `parts in flight at once: ${mostInFlight}`);
  await page.waitForFunction((total) => Number(document.querySelector("#quota-text").dataset.used) === total, size);
  await done(page);
});

test("an upload interrupted mid-way resumes after a reload and sends only the missing parts", async () => {
  const page = await signedInPage(WEB_URL, newUser());
  expectErrors(page, /ERR_CONNECTION_RESET|ERR_FAILED/);
  const size = 40 * MIB;
  const buffer = Buffer.alloc(size, "y");
  const sent = [];
  page.on("request", (request) => { if (isPartPut(request)) sent.push(partNumberOf(request)); });
  // The connection drops every part from the third on (each is retried, then the upload stops).
  const fromThirdPart = /partNumber=([3-9]|\d{2,})(&|$)/;
  await page.route(fromThirdPart, (route) => route.abort("connectionreset"));
  await page.setInputFiles("#files", [{ name: "resume.txt", mimeType: "text/plain", buffer }]);
  await page.click("#upload-form button[type=submit]");
  const message = await page.waitForSelector("#messages .message.error", { timeout: 120_000 });
  assert.match(await message.textContent(), /Select the same file again to resume/);
  await page.unroute(fromThirdPart);

  await page.reload();
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForSelector("#messages .message:has-text('Unfinished uploads: resume.txt')");
  sent.length = 0;
  await page.setInputFiles("#files", [{ name: "resume.txt", mimeType: "text/plain", buffer }]);
  await page.click("#upload-form button[type=submit]");
  await page.waitForSelector("#uploads li[data-status=uploaded]", { timeout: 120_000 });
  assert.deepEqual(sent.sort((a, b) => a - b), [3, 4, 5], "only the parts storage did not hold");
  await page.waitForFunction((total) => Number(document.querySelector("#quota-text").dataset.used) === total, size);
  await done(page);
});

test("a part URL that expired is signed again and the upload carries on, signed with the session token", async () => {
  const page = await signedInPage(WEB_URL, newUser());
  const size = 20 * MIB;
  const urls = [];
  page.on("request", (request) => { if (isPartPut(request)) urls.push(request.url()); });
  const signings = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && /\/parts$/.test(new URL(request.url()).pathname)) {
      signings.push(request.postDataJSON().part_numbers);
    }
  });
  // S3's answer to a URL whose expiry (or whose credentials' expiry) has passed, once, for part 2.
  let expired = 0;
  const secondPart = /partNumber=2(&|$)/;
  await page.route(secondPart, async (route) => {
    if (route.request().method() !== "PUT" || expired > 0) return route.continue();
    expired += 1;
    await route.fulfill({
      status: 403,
      headers: { "Content-Type": "application/xml", "Access-Control-Allow-Origin": new URL(WEB_URL).origin },
      body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
        + "<Message>Request has expired</Message></Error>",
    });
  });
  await page.setInputFiles("#files", [{ name: "expiring.txt", mimeType: "text/plain", buffer: Buffer.alloc(size, "z") }]);
  await page.click("#upload-form button[type=submit]");
  await page.waitForSelector("#uploads li[data-status=uploaded]", { timeout: 120_000 });
  assert.equal(expired, 1, "the fault fired once");
  assert.deepEqual(signings, [[1, 2, 3], [2]], "one fresh URL, for the part that expired");
  assert.ok(urls.every((url) => new URL(url).searchParams.get("X-Amz-Security-Token")),
    "every part URL carries the signer's session token");
  await page.waitForFunction((total) => Number(document.querySelector("#quota-text").dataset.used) === total, size);
  assert.equal(await page.$$eval("#messages .message.error", (m) => m.length), 0, "no error shown");
  await page.close();
});

test("a topic made on the page files a matching PDF without a reload, and deleting it unfiles it", async () => {
  const page = await signedInPage(WEB_URL, newUser());
  await page.fill("#topic-name", "Recipes");
  await page.fill("#topic-description", "Cooking and baking recipes: flour, sugar, butter, oven");
  await page.click("#topic-form button[type=submit]");
  await page.waitForSelector("#topics li:has-text('Recipes')");
  await page.setInputFiles("#files", [{
    name: "scones.pdf", mimeType: "application/pdf",
    buffer: samplePdf("Scones: preheat the oven, rub the butter into the flour, add sugar and bake."),
  }]);
  await page.click("#upload-form button[type=submit]");
  // Filed under the topic by the classify function, shown by the page's own polling.
  const cell = "#documents tr:has-text('scones.pdf') td.topic";
  await page.waitForSelector(`${cell}[data-status=classified]`, { timeout: 60_000 });
  assert.match(await page.textContent(cell), /Recipes/);
  // Only its documents when filtered by the topic.
  await page.selectOption("#topic-filter", { label: "filed under Recipes" });
  await page.waitForFunction(() => document.querySelectorAll("#documents tr").length === 1);
  await page.selectOption("#topic-filter", "");

  await page.click("#topics li:has-text('Recipes') button");
  await page.waitForSelector(`${cell}[data-status=unclassified]`);
  assert.equal(await page.$$eval("#topics li", (items) => items.length), 0);
  await done(page);
});

test("a page on an origin the bucket's CORS does not allow cannot PUT", async () => {
  const page = await signedInPage(OTHER_ORIGIN_WEB_URL, newUser());
  expectErrors(page, /CORS policy|ERR_FAILED/);
  await page.setInputFiles("#files", [{ name: "blocked.txt", mimeType: "text/plain", buffer: Buffer.from("hello") }]);
  await page.click("#upload-form button[type=submit]");
  const message = await page.waitForSelector("#messages .message.error");
  assert.match(await message.textContent(), /upload failed: the upload was blocked/);
  // The pending document was discarded and nothing was charged.
  await page.waitForFunction(() => document.querySelectorAll("#documents tr").length === 0);
  assert.equal(await usedBytes(page), 0);
  await done(page);
});

test("an invalid token asks to sign in again", async () => {
  const page = await newPage();
  expectErrors(page, /401/);
  await page.goto(WEB_URL);
  await page.click("summary");
  await page.fill("#token", "not.a.token");
  await page.click("#token-form button[type=submit]");
  const notice = await page.waitForSelector("#signed-out");
  assert.match(await notice.textContent(), /sign in again/);
  await done(page);
});

/** Drops `files` ({ name, type, text }) onto the page as a user dragging them from a file manager. */
async function dropFiles(page, files) {
  await page.evaluate((files) => {
    const transfer = new DataTransfer();
    for (const { name, type, text } of files) transfer.items.add(new File([text], name, { type }));
    for (const type of ["dragenter", "dragover", "drop"]) {
      document.body.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }
  }, files);
}

test("the page loads and works with no console error: sign-in validation, drop, topics, filing, delete", async () => {
  const page = await newPage();
  await page.goto(WEB_URL);
  // The sign-in field's pattern compiles (Chromium compiles it with the `v` flag): it refuses a space.
  await page.fill("#user-name", "not a name");
  assert.equal(await page.$eval("#user-name", (input) => input.checkValidity()), false);
  await page.fill("#user-name", newUser());
  assert.equal(await page.$eval("#user-name", (input) => input.checkValidity()), true);
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#app:not([hidden])");
  await page.fill("#topic-name", "Recipes");
  await page.fill("#topic-description", "Cooking and baking recipes: flour, sugar, butter, oven");
  await page.click("#topic-form button[type=submit]");
  await page.waitForSelector("#topics li:has-text('Recipes')");
  // Dropped files are uploaded like picked ones.
  await dropFiles(page, [
    { name: "dropped.txt", type: "text/plain", text: "Notes from the allotment: the beans are up." },
    { name: "scones.md", type: "text/markdown", text: "# Scones\nRub the butter into the flour, add sugar, bake in a hot oven." },
  ]);
  await page.waitForFunction(() => document.querySelectorAll("#uploads li[data-status=uploaded]").length === 2);
  await page.waitForSelector("#documents tr:has-text('scones.md') td.topic[data-status=classified]", { timeout: 60_000 });
  await page.waitForSelector("#documents tr:has-text('dropped.txt') td.topic[data-status=unclassified]", { timeout: 60_000 });
  // Filed by hand, then deleted; the page reloads signed in.
  await page.selectOption("#documents tr:has-text('dropped.txt') select.file-under", { label: "Recipes" });
  await page.waitForSelector("#documents tr:has-text('dropped.txt') td.topic:has-text('Recipes')");
  await page.click("#documents tr:has-text('dropped.txt') button");
  await page.waitForFunction(() => document.querySelectorAll("#documents tr").length === 1);
  await page.reload();
  await page.waitForSelector("#documents tr:has-text('scones.md')");
  await done(page);
});

test("a document filed by hand teaches the classifier: a similar upload is filed under that topic", async () => {
  const page = await signedInPage(WEB_URL, newUser());
  // Nothing in this topic's name or description says where a vet's messages go.
  await page.fill("#topic-name", "Box 7");
  await page.fill("#topic-description", "papers to sort later");
  await page.click("#topic-form button[type=submit]");
  await page.waitForSelector("#topics li:has-text('Box 7')");
  const upload = async (name, text) => {
    await page.setInputFiles("#files", [{ name, mimeType: "text/plain", buffer: Buffer.from(text) }]);
    await page.click("#upload-form button[type=submit]");
  };
  await upload("vet-reminder.txt",
    "Riverside Vets: reminder, Luna (cat) is due for her annual booster vaccination. Please call us to book.");
  const first = "#documents tr:has-text('vet-reminder.txt')";
  await page.waitForSelector(`${first} td.topic[data-status=unclassified]`, { timeout: 60_000 });
  await page.selectOption(`${first} select.file-under`, { label: "Box 7" });
  await page.waitForSelector(`${first} td.topic:has-text('Box 7')`);
  await upload("vet-results.txt",
    "Riverside Vets: Luna's blood test results are normal. Her booster vaccination is due in March; please call us to book.");
  const second = "#documents tr:has-text('vet-results.txt') td.topic";
  await page.waitForSelector(`${second}[data-status=classified]`, { timeout: 60_000 });
  assert.match(await page.textContent(second), /Box 7/);
  assert.doesNotMatch(await page.textContent(second), /by you/, "filed by the classifier, not by hand");
  await done(page);
});
