// The browser side of the three-step upload: upload-url, PUT straight to storage, confirm. A
// single PUT asks to be confirmed by its object's arrival instead (no confirm request; the
// document list shows the outcome); a multipart upload is confirmed by the page.
const config = window.APP_CONFIG ?? { apiUrl: "http://127.0.0.1:3000", devJwtSecret: null };
const $ = (id) => document.getElementById(id);
const TYPES_BY_EXTENSION = {
  pdf: "application/pdf",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  txt: "text/plain",
  md: "text/markdown",
  markdown: "text/markdown",
};

let token = sessionStorage.getItem("token");
let nextCursor = null;
let topicNames = new Map();
let pollDelay = 0;
let pollTimer = null;

class SignedOut extends Error {}

function formatBytes(bytes) {
  if (bytes == null) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function showMessage(text, kind = "info") {
  const message = document.createElement("div");
  message.className = `message ${kind}`;
  message.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "×";
  close.setAttribute("aria-label", "dismiss");
  close.onclick = () => message.remove();
  message.prepend(close);
  $("messages").prepend(message);
}

/** A sentence for an error answer of the API, from its status and `detail`. */
function describeError(status, body) {
  const detail = body?.detail;
  if (status === 413 && detail && typeof detail === "object") {
    return `Not enough storage: ${formatBytes(detail.used_bytes)} of ${formatBytes(detail.limit_bytes)} used, ` +
      `and this file needs ${formatBytes(detail.rejected_bytes)}.`;
  }
  if (status === 415) return `This file type is not accepted. ${detail}`;
  if (typeof detail === "string") return detail;
  return `The server answered ${status}.`;
}

async function api(method, path, body) {
  const response = await fetch(config.apiUrl + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    signOut("Your session has expired or is not valid: please sign in again.");
    throw new SignedOut();
  }
  return { status: response.status, body: json };
}

// --- signing in -----------------------------------------------------------------------------

const base64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/** A local HS256 token, signed with the documented dev secret (local stack only). */
async function mintDevToken(user) {
  const encoder = new TextEncoder();
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(encoder.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const claims = base64url(encoder.encode(JSON.stringify({ sub: user, iat: now, exp: now + 12 * 3600 })));
  const key = await crypto.subtle.importKey("raw", encoder.encode(config.devJwtSecret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = await crypto.subtle.sign("HMAC", key, encoder.encode(`${header}.${claims}`));
  return `${header}.${claims}.${base64url(signature)}`;
}

function subjectOf(jwt) {
  try {
    const claims = JSON.parse(atob(jwt.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")));
    return claims.sub ?? "?";
  } catch {
    return "?";
  }
}

function signIn(newToken) {
  token = newToken;
  sessionStorage.setItem("token", token);
  $("who-name").textContent = subjectOf(token);
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("app").hidden = false;
  const unfinished = unfinishedUploads();
  if (unfinished.length) {
    showMessage(`Unfinished uploads: ${unfinished.map((u) => u.name).join(", ")}. Select the same file again to resume.`);
  }
  refresh();
}

function signOut(reason) {
  token = null;
  sessionStorage.removeItem("token");
  $("who").hidden = true;
  $("app").hidden = true;
  $("sign-in").hidden = false;
  $("uploads").replaceChildren();
  arrivals.clear();
  if (reason) {
    const notice = document.createElement("p");
    notice.className = "message error";
    notice.id = "signed-out";
    notice.textContent = reason;
    $("sign-in").querySelector("#signed-out")?.remove();
    $("sign-in").prepend(notice);
  }
}

// --- quota and documents --------------------------------------------------------------------

async function refreshQuota() {
  const { status, body } = await api("GET", "/api/auth/me/quota");
  if (status !== 200) return showMessage(describeError(status, body), "error");
  const share = body.limit_bytes > 0 ? Math.min(1, body.used_bytes / body.limit_bytes) : 1;
  const fill = $("quota-fill");
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  fill.className = share >= 1 ? "full" : share > 0.8 ? "high" : "";
  $("quota-text").textContent = `${formatBytes(body.used_bytes)} of ${formatBytes(body.limit_bytes)} used`;
  $("quota-text").dataset.used = body.used_bytes;
}

function documentRow(doc, topics) {
  const row = document.createElement("tr");
  row.dataset.id = doc.id;
  const name = document.createElement("td");
  if (doc.status === "uploaded") {
    const link = document.createElement("a");
    link.href = "#";
    link.textContent = doc.filename;
    link.onclick = async (event) => {
      event.preventDefault();
      const { status, body } = await api("GET", `/api/documents/${doc.id}`);
      if (status === 200 && body.download_url) window.location.assign(body.download_url);
      else showMessage(describeError(status, body), "error");
    };
    name.append(link);
  } else {
    name.textContent = doc.filename;
  }
  const state = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = `status ${doc.status}`;
  badge.textContent = doc.status;
  state.append(badge);
  const size = document.createElement("td");
  size.textContent = formatBytes(doc.size_bytes);
  const topic = document.createElement("td");
  topic.className = "topic";
  topic.dataset.status = doc.classification_status;
  const byUser = doc.classified_by === "user";
  if (doc.classification_status === "classified") {
    topic.textContent = topics.get(doc.topic_id) ?? "…";
    const confidence = document.createElement("span");
    confidence.className = "confidence";
    confidence.textContent = byUser ? " (filed by you)" : ` ${Math.round((doc.confidence ?? 0) * 100)}%`;
    topic.append(confidence);
  } else {
    topic.textContent = { no_text: "no text", failed: "could not read" }[doc.classification_status]
      ?? doc.classification_status ?? "";
    if (doc.classification_status === "unclassified") {
      const why = document.createElement("span");
      why.className = "confidence";
      why.textContent = byUser ? " (by you)"
        : doc.confidence != null ? ` (no topic fits: best match ${Math.round(doc.confidence * 100)}%)` : "";
      topic.append(why);
    }
    if (doc.classification_reason) {
      topic.title = doc.classification_reason;
      const reason = document.createElement("span");
      reason.className = "confidence";
      reason.textContent = ` (${doc.classification_reason})`;
      topic.append(reason);
    }
  }
  const actions = document.createElement("td");
  if ((doc.status === "uploaded" || doc.status === "pending") && topics.size > 0) {
    // Filing by hand: the user's choice, which no automatic classification replaces.
    const choose = document.createElement("select");
    choose.className = "file-under";
    choose.setAttribute("aria-label", `Topic of ${doc.filename}`);
    choose.append(new Option("(no topic)", ""), ...[...topics].map(([id, topicName]) => new Option(topicName, id)));
    choose.value = doc.classification_status === "classified" ? doc.topic_id : "";
    choose.onchange = async () => {
      const topicId = choose.value || null;
      const reply = await api("PUT", `/api/documents/${doc.id}/topic`, { topic_id: topicId });
      if (reply.status !== 200) showMessage(describeError(reply.status, reply.body), "error");
      else showMessage(topicId ? `Filed ${doc.filename} under ${topics.get(topicId)}.` : `${doc.filename} is under no topic now.`);
      await refresh();
    };
    actions.append(choose);
  }
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "link";
  remove.textContent = "Delete";
  remove.onclick = async () => {
    const { status, body } = await api("DELETE", `/api/documents/${doc.id}`);
    if (status !== 204) showMessage(describeError(status, body), "error");
    else showMessage(`Deleted ${doc.filename}.`);
    await refresh();
  };
  actions.append(remove);
  row.append(name, state, size, topic, actions);
  return row;
}

// Every topic, page after page (a user has at most MAX_TOPICS_PER_USER of them).
async function fetchTopics() {
  const topics = [];
  let cursor = "";
  for (let pages = 0; pages < 100; pages++) {
    const { status, body } = await api("GET", `/api/topics?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (status !== 200) return { status, body };
    topics.push(...body.items);
    if (!body.next_cursor) break;
    cursor = body.next_cursor;
  }
  return { status: 200, body: topics };
}

async function loadTopics() {
  const { status, body } = await fetchTopics();
  if (status !== 200) return showMessage(describeError(status, body), "error");
  topicNames = new Map(body.map((t) => [t.id, t.name]));
  $("topics").replaceChildren(...body.map((topic) => {
    const item = document.createElement("li");
    item.dataset.id = topic.id;
    const name = document.createElement("strong");
    name.textContent = topic.name;
    const description = document.createElement("span");
    description.className = "description";
    description.textContent = topic.description;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.textContent = "Delete";
    remove.onclick = async () => {
      const reply = await api("DELETE", `/api/topics/${topic.id}`);
      if (reply.status !== 204) showMessage(describeError(reply.status, reply.body), "error");
      else showMessage(`Deleted the topic ${topic.name}; its documents are unclassified now.`);
      await refresh();
    };
    item.append(name, description, remove);
    return item;
  }));
  const filter = $("topic-filter");
  const chosen = filter.value;
  filter.replaceChildren(filter.options[0], ...body.map((topic) => new Option(`filed under ${topic.name}`, topic.id)));
  filter.value = topicNames.has(chosen) ? chosen : "";
}

async function loadDocuments(append) {
  const filter = $("topic-filter").value;
  const query = `limit=20${filter ? `&topic_id=${filter}` : ""}${append && nextCursor ? `&cursor=${nextCursor}` : ""}`;
  const page = await api("GET", `/api/documents?${query}`);
  if (page.status !== 200) {
    showMessage(describeError(page.status, page.body), "error");
    return pollWhilePending([]); // uploads still waiting are looked at again
  }
  const rows = page.body.items.map((doc) => documentRow(doc, topicNames));
  if (append) $("documents").append(...rows);
  else $("documents").replaceChildren(...rows);
  nextCursor = page.body.next_cursor;
  $("more").hidden = !nextCursor;
  if (await settleArrivals(page.body.items)) await refreshQuota();
  pollWhilePending(page.body.items);
}

/** Confirmation on arrival and classification run after the upload: look again, less and less
 * often, until both settled. */
function pollWhilePending(items) {
  clearTimeout(pollTimer);
  const pending = arrivals.size > 0 ||
    items.some((d) => d.classification_status === "pending" && d.status !== "rejected");
  if (!pending) {
    pollDelay = 0;
    return;
  }
  pollDelay = Math.min(pollDelay ? pollDelay * 2 : 1000, 15_000);
  pollTimer = setTimeout(() => loadDocuments(false).catch((error) => {
    if (!(error instanceof SignedOut)) pollWhilePending([]); // a failed look is not the last
  }), pollDelay);
}

async function refresh() {
  try {
    pollDelay = 0;
    await Promise.all([refreshQuota(), loadTopics()]);
    await loadDocuments(false);
  } catch (error) {
    if (!(error instanceof SignedOut)) showMessage(`Could not reach the API: ${error.message}`, "error");
  }
}

// --- uploading ------------------------------------------------------------------------------

function contentTypeOf(file) {
  const extension = file.name.split(".").pop().toLowerCase();
  return TYPES_BY_EXTENSION[extension] ?? file.type ?? "application/octet-stream";
}

/** PUTs `blob` to a presigned URL with exactly its signed headers; `onProgress(bytesSent)`. */
function putToStorage(signed, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", signed.upload_url);
    for (const [name, value] of Object.entries(signed.headers)) {
      // The browser sets Content-Length itself (and refuses to let scripts set it).
      if (name.toLowerCase() !== "content-length") request.setRequestHeader(name, value);
    }
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => (request.status >= 200 && request.status < 300
      ? resolve()
      : reject(Object.assign(new Error(request.status === 403
        ? "storage refused the upload (the link expired or the file changed)"
        : `storage answered ${request.status}`), { status: request.status })));
    request.onerror = () => reject(new Error("the upload was blocked or the connection failed"));
    request.send(blob);
  });
}

// --- multipart uploads, resumable ------------------------------------------------------------

const MULTIPART_FROM = 16 * 1024 * 1024; // files from this size go in parts
const PARTS_IN_FLIGHT = 3;
const PART_ATTEMPTS = 4;
const PART_URL_REFRESHES = 2; // fresh URLs asked for one part after a 403, before giving up
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Unfinished multipart uploads of the signed-in user, remembered across reloads. */
const unfinishedKey = () => `unfinished-uploads:${subjectOf(token)}`;
function unfinishedUploads() {
  try {
    return JSON.parse(localStorage.getItem(unfinishedKey()) ?? "[]");
  } catch {
    return [];
  }
}
function rememberUpload(entry) {
  localStorage.setItem(unfinishedKey(), JSON.stringify([...unfinishedUploads(), entry]));
}
function forgetUpload(id) {
  localStorage.setItem(unfinishedKey(), JSON.stringify(unfinishedUploads().filter((u) => u.id !== id)));
}

/** Recognises the same file picked again: name, size and a digest of its first MiB. */
async function fileTag(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.slice(0, 1024 * 1024).arrayBuffer());
  return `${file.name}|${file.size}|${btoa(String.fromCharCode(...new Uint8Array(digest)))}`;
}

/**
 * Sends `file` in parts, several at a time, each retried with backoff; resumes an upload of the
 * same file that a reload or a failure interrupted, sending only the parts storage lacks.
 * Answers the document id, ready to confirm.
 */
async function uploadInParts(file, onProgress) {
  const tag = await fileTag(file);
  let entry = unfinishedUploads().find((u) => u.tag === tag);
  let held = new Map();
  if (entry) {
    const { status, body } = await api("GET", `/api/documents/${entry.id}/parts`);
    if (status === 200) {
      held = new Map(body.parts.map((p) => [p.part_number, p.size_bytes]));
    } else {
      forgetUpload(entry.id); // gone: deleted, cleaned up or confirmed
      entry = null;
    }
  }
  if (!entry) {
    // Created with SHA-256 as its checksum algorithm: storage then takes (and checks) the SHA-256
    // signed into every part's URL, and keeps the object's composite checksum.
    const start = await api("POST", "/api/documents/upload-url", {
      filename: file.name, content_type: contentTypeOf(file), size_bytes: file.size, multipart: true,
      checksum_algorithm: "SHA256",
    });
    if (start.status !== 200) throw new Error(describeError(start.status, start.body));
    const { part_size: partSize, part_count: partCount } = start.body.multipart;
    entry = { id: start.body.document_id, name: file.name, tag, partSize, partCount, checksummed: true };
    rememberUpload(entry);
  }
  const { partSize, partCount } = entry;
  const lengthOf = (n) => Math.min(partSize, file.size - (n - 1) * partSize);
  const missing = [];
  for (let n = 1; n <= partCount; n += 1) if (held.get(n) !== lengthOf(n)) missing.push(n);
  let stored = file.size - missing.reduce((sum, n) => sum + lengthOf(n), 0);
  const sending = new Map();
  const report = () => onProgress((stored + [...sending.values()].reduce((a, b) => a + b, 0)) / file.size);
  report();
  const urls = new Map();
  const sliceOf = (n) => file.slice((n - 1) * partSize, (n - 1) * partSize + lengthOf(n));
  /** Signs URLs for `numbers` (at most 100). Each part's SHA-256 is signed into its URL: storage
   * refuses any other bytes for it. An upload remembered from before checksums (no
   * `checksummed`) cannot take them: none is sent. */
  const sign = async (numbers) => {
    const request = { part_numbers: numbers };
    if (entry.checksummed) {
      request.checksums_sha256 = {};
      for (const n of numbers) request.checksums_sha256[n] = await sha256Base64(sliceOf(n));
    }
    const { status, body } = await api("POST", `/api/documents/${entry.id}/parts`, request);
    if (status !== 200) throw new Error(describeError(status, body));
    for (const part of body.parts) urls.set(part.part_number, part);
  };
  for (let i = 0; i < missing.length; i += 100) await sign(missing.slice(i, i + 100));
  const queue = [...missing];
  const worker = async () => {
    while (queue.length) {
      const n = queue.shift();
      const blob = sliceOf(n);
      let refreshed = 0;
      for (let attempt = 1; ; attempt += 1) {
        try {
          await putToStorage(urls.get(n), blob, (sent) => { sending.set(n, sent); report(); });
          break;
        } catch (error) {
          sending.delete(n);
          // 403: the URL expired (or the credentials that signed it did, which in AWS can be
          // before its own expiry): ask for a fresh one and carry on; the document stays.
          if (error.status === 403 && refreshed < PART_URL_REFRESHES) {
            refreshed += 1;
            attempt -= 1;
            await sign([n]);
            continue;
          }
          if (attempt >= PART_ATTEMPTS) throw error;
          await sleep(250 * 2 ** attempt * (0.5 + Math.random()));
        }
      }
      sending.delete(n);
      stored += lengthOf(n);
      report();
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, missing.length) }, worker));
  return entry.id;
}

/** The SHA-256 of a file (or a part of it) in base64: signed into the PUT, so storage refuses
 * any other bytes. */
async function sha256Base64(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

async function uploadFile(file) {
  const item = document.createElement("li");
  const label = document.createElement("span");
  label.textContent = file.name;
  const progress = document.createElement("progress");
  progress.max = 1;
  progress.value = 0;
  const state = document.createElement("span");
  state.className = "upload-state";
  state.textContent = "starting…";
  item.append(label, progress, state);
  $("uploads").append(item);
  const fail = (text) => {
    showMessage(`${file.name}: ${text}`, "error");
    item.remove();
  };

  let id;
  let confirmedOnArrival = false;
  if (file.size >= MULTIPART_FROM) {
    state.textContent = "uploading in parts…";
    try {
      id = await uploadInParts(file, (share) => { progress.value = share; });
    } catch (error) {
      if (error instanceof SignedOut) throw error;
      // The parts already stored stay: picking the same file again resumes from them.
      return fail(`upload failed: ${error.message}. Select the same file again to resume.`);
    }
  } else {
    const request = {
      filename: file.name, content_type: contentTypeOf(file), size_bytes: file.size,
      checksum_sha256: await sha256Base64(file), confirm_on_arrival: true,
    };
    let start = await api("POST", "/api/documents/upload-url", request);
    if (start.status === 422 && /confirm_on_arrival/.test(JSON.stringify(start.body))) {
      // An API from before confirm on arrival: the upload is confirmed from here instead.
      delete request.confirm_on_arrival;
      start = await api("POST", "/api/documents/upload-url", request);
    }
    if (start.status !== 200) return fail(describeError(start.status, start.body));
    id = start.body.document_id;
    confirmedOnArrival = start.body.confirm_on_arrival === true;
    state.textContent = "uploading…";
    try {
      await putToStorage(start.body, file, (sent) => { progress.value = sent / Math.max(file.size, 1); });
    } catch (error) {
      // Nothing reached storage: discard the pending document rather than leave it half-shown.
      await api("DELETE", `/api/documents/${id}`);
      return fail(`upload failed: ${error.message}`);
    }
  }
  progress.value = 1;
  if (confirmedOnArrival) {
    // Storage's event confirms it: the document list, polled anyway until it is classified,
    // shows how that went (settleArrivals), with no confirm request from here.
    state.textContent = "stored, checking…";
    item.dataset.status = "checking";
    arrivals.set(id, { item, state, fail, since: Date.now() });
    return;
  }
  state.textContent = "confirming…";
  const confirm = await api("POST", `/api/documents/${id}/confirm`);
  if (confirm.status !== 422) forgetUpload(id); // settled either way, unless parts are missing
  if (confirm.status !== 200) return fail(describeError(confirm.status, confirm.body));
  markUploaded(item, state, confirm.body.size_bytes);
}

function markUploaded(item, state, size) {
  state.textContent = `uploaded (${formatBytes(size)})`;
  item.dataset.status = "uploaded";
}

/** Uploads confirmed by their object's arrival, waiting for it: document id -> their list item,
 * and when the wait began. */
const arrivals = new Map();
/** An arrival not handled after this long (its event late or lost) is confirmed from here:
 * confirm answers as the arrival decided, or decides first, charging once either way. */
const ARRIVAL_PATIENCE_MS = 30_000;

/** Settles the waiting uploads that `items` (a page of the document list) shows decided; those
 * not on the page are read one by one. Answers whether any settled (the quota moved). */
async function settleArrivals(items) {
  if (!arrivals.size) return false;
  const shown = new Map(items.map((doc) => [doc.id, doc]));
  let settled = false;
  for (const [id, waiting] of arrivals) {
    let doc = shown.get(id);
    if (!doc) {
      const reply = await api("GET", `/api/documents/${id}`);
      if (reply.status === 404) {
        arrivals.delete(id);
        waiting.fail("the upload is gone: it was deleted, or cleaned up before it was confirmed");
        continue;
      }
      if (reply.status !== 200) continue;
      doc = reply.body;
    }
    if (doc.status === "pending" && Date.now() - waiting.since > ARRIVAL_PATIENCE_MS) {
      const confirm = await api("POST", `/api/documents/${id}/confirm`);
      if (confirm.status === 422) continue; // not in storage (yet): keep waiting
      arrivals.delete(id);
      settled = true;
      if (confirm.status === 200) markUploaded(waiting.item, waiting.state, confirm.body.size_bytes);
      else waiting.fail(describeError(confirm.status, confirm.body));
      continue;
    }
    if (doc.status === "pending") continue;
    arrivals.delete(id);
    settled = true;
    if (doc.status === "uploaded") markUploaded(waiting.item, waiting.state, doc.size_bytes);
    else waiting.fail(`refused: ${doc.rejection_reason ?? "the upload was rejected"}`);
  }
  return settled;
}

$("sign-in-form").onsubmit = async (event) => {
  event.preventDefault();
  if (!config.devJwtSecret) return showMessage("Minting tokens is only available locally; paste a token.", "error");
  signIn(await mintDevToken($("user-name").value.trim()));
};
$("token-form").onsubmit = (event) => {
  event.preventDefault();
  signIn($("token").value.trim());
};
$("sign-out").onclick = () => signOut();
$("more").onclick = () => loadDocuments(true);
$("topic-filter").onchange = () => loadDocuments(false);
$("topic-form").onsubmit = async (event) => {
  event.preventDefault();
  const reply = await api("POST", "/api/topics", { name: $("topic-name").value, description: $("topic-description").value });
  if (reply.status !== 201) return showMessage(describeError(reply.status, reply.body), "error");
  $("topic-form").reset();
  showMessage(`Added the topic ${reply.body.name}: new uploads that match it are filed under it.`);
  await refresh();
};
async function uploadFiles(files) {
  try {
    await Promise.all(files.map(uploadFile));
  } catch (error) {
    if (!(error instanceof SignedOut)) showMessage(`Upload stopped: ${error.message}`, "error");
  }
  await refresh();
}
$("upload-form").onsubmit = async (event) => {
  event.preventDefault();
  const files = [...$("files").files];
  $("files").value = "";
  await uploadFiles(files);
};
// Files dropped anywhere on the page while signed in are uploaded like picked ones; the browser
// must not open them instead (dragover and drop both cancelled).
const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
document.addEventListener("dragover", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = $("app").hidden ? "none" : "copy";
  $("drop-zone").classList.toggle("dropping", !$("app").hidden);
});
document.addEventListener("dragleave", (event) => {
  if (event.relatedTarget === null) $("drop-zone").classList.remove("dropping");
});
document.addEventListener("drop", async (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  $("drop-zone").classList.remove("dropping");
  if ($("app").hidden) return;
  await uploadFiles([...event.dataTransfer.files]);
});

if (token) signIn(token);
