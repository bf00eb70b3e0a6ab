"""The Teach page, its script and style, kept in the package like page.py.

The script polls /api/teach (twice a second while recording), fills the page with
textContent only (action names are the user's), and sends changes as body-less POSTs
carrying the X-Movinet-Teach header (app/web/access.py). It shares app.css with the
live page.
"""

from __future__ import annotations

HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MoViNet teach</title>
<link rel="stylesheet" href="app.css">
<link rel="stylesheet" href="teach.css">
<script src="teach.js" defer></script>
</head>
<body>
<header>
  <h1>Teach</h1>
  <span id="set"></span>
  <a class="back" href="./">live view</a>
</header>
<main>
  <section class="video">
    <div class="stage">
      <img id="video" src="stream.mjpg" alt="the camera">
      <div id="countdown" hidden></div>
    </div>
    <p id="session" class="session"></p>
  </section>
  <section class="panel">
    <p id="problem" class="problem" hidden></p>
    <form id="record">
      <label>Action <input id="action" list="known" maxlength="48" required placeholder="e.g. stirring"></label>
      <datalist id="known"></datalist>
      <div class="numbers">
        <label>Takes <input id="takes" type="number" min="1" max="10" value="3"></label>
        <label>Seconds <input id="seconds" type="number" min="2" max="30" step="0.5" value="5"></label>
        <label>Countdown <input id="countdown-s" type="number" min="0" max="10" value="3"></label>
      </div>
      <button id="start" type="submit">Record</button>
      <button id="cancel" type="button" hidden>Cancel</button>
    </form>
    <p id="error" class="problem" hidden></p>
    <h2>Examples</h2>
    <div id="actions"><p class="hint">none yet: record a few takes of each action, and of "other"</p></div>
    <button id="fit" type="button">Fit and use</button>
    <div id="estimate"></div>
    <p id="labels" class="hint"></p>
  </section>
</main>
</body>
</html>
"""

JS = """"use strict";
const $ = (id) => document.getElementById(id);
const HEADERS = { "X-Movinet-Teach": "1" };
let shownExamples = "";

function text(tag, content, className) {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

async function post(path, params) {
  const query = new URLSearchParams(params || {}).toString();
  let answer;
  try {
    const address = "api/teach/" + path + (query ? "?" + query : "");
    const response = await fetch(address, { method: "POST", headers: HEADERS });
    answer = await response.json();
  } catch (error) {
    answer = { error: "no answer from the app: " + error };
  }
  showError(answer.error);
  refresh();
  return answer;
}

function renderActions(actions) {
  const key = JSON.stringify(actions.map((a) => [a.name, a.examples.map((e) => e.id)]));
  if (key === shownExamples) return;
  shownExamples = key;
  $("known").replaceChildren(...actions.map((a) => {
    const option = document.createElement("option");
    option.value = a.name;
    return option;
  }));
  if (!actions.length) return;
  $("actions").replaceChildren(...actions.map((action) => {
    const block = document.createElement("div");
    block.className = "action";
    block.append(text("h3", action.name + " (" + action.examples.length + ")"));
    const list = document.createElement("ul");
    list.className = "examples";
    for (const example of action.examples) {
      const item = document.createElement("li");
      const image = document.createElement("img");
      image.src = example.thumbnail;
      image.alt = action.name + " " + example.number;
      image.title = example.source + " · " + example.seconds + " s";
      const remove = text("button", "\u00d7", "delete");
      remove.type = "button";
      remove.title = "delete this example";
      remove.addEventListener("click", () => post("delete", { id: example.id }));
      item.append(image, remove, text("span", "#" + example.number + " · " + example.seconds + " s"));
      list.append(item);
    }
    block.append(list);
    return block;
  }));
}

function renderSession(s) {
  const running = s && !["done", "failed", "cancelled"].includes(s.phase);
  $("start").disabled = running;
  $("cancel").hidden = !running;
  const count = $("countdown");
  count.hidden = !(running && (s.phase === "countdown" || s.phase === "recording"));
  count.className = running ? s.phase : "";
  if (running && s.phase === "countdown") count.textContent = String(Math.ceil(s.left_s));
  if (running && s.phase === "recording") count.textContent = "● " + s.left_s.toFixed(1) + " s";
  if (!s) { $("session").textContent = ""; return running; }
  let line = s.action + ": take " + s.take + " of " + s.takes + " · " + s.phase;
  if (s.phase === "done") line = s.action + ": " + s.stored + " take(s) stored";
  if (s.phase === "failed") line = s.action + ": " + s.error;
  $("session").textContent = line;
  return running;
}

function renderFit(f) {
  const box = $("estimate");
  if (!f) { box.replaceChildren(); return; }
  const estimated = Object.keys(f.per_action).length > 0;
  const overall = estimated ? "overall " + Math.round(f.overall * 100) + "% right" : "no estimate yet";
  const parts = [text("h2", "Estimate (" + f.method + ")"), text("p", overall, "overall")];
  const list = document.createElement("ul");
  for (const [action, share] of Object.entries(f.per_action)) {
    list.append(text("li", action + ": " + Math.round(share * 100) + "%"));
  }
  for (const action of f.unestimated) list.append(text("li", action + ": one example, not estimated"));
  parts.push(list);
  for (const [taught, answered, n] of f.confusions) {
    parts.push(text("p", taught + " answered as " + answered + " (" + n + ")", "hint"));
  }
  for (const warning of f.warnings) parts.push(text("p", warning, "warning"));
  box.replaceChildren(...parts);
}

async function refresh() {
  let s;
  try { s = await (await fetch("api/teach")).json(); } catch (error) { setTimeout(refresh, 3000); return; }
  $("set").textContent = s.set || "";
  $("problem").hidden = !s.problem;
  $("problem").textContent = s.problem || "";
  $("start").disabled = $("fit").disabled = !!s.problem;
  renderActions(s.actions);
  const running = renderSession(s.session);
  renderFit(s.fit);
  $("labels").textContent = "the live view answers with "
    + (s.labels ? s.labels.join(", ") : "the model's " + s.label_count + " labels");
  clearTimeout(refresh.timer);
  refresh.timer = setTimeout(refresh, running ? 250 : 3000);
}

$("record").addEventListener("submit", (event) => {
  event.preventDefault();
  post("record", { action: $("action").value.trim(), takes: $("takes").value, seconds: $("seconds").value,
    countdown: $("countdown-s").value });
});
$("cancel").addEventListener("click", () => post("cancel"));
$("fit").addEventListener("click", async () => {
  $("fit").disabled = true;
  $("fit").textContent = "Fitting…";
  await post("fit");
  $("fit").textContent = "Fit and use";
  $("fit").disabled = false;
});
const video = $("video");
video.addEventListener("error", () => { setTimeout(() => { video.src = "stream.mjpg?retry=" + Date.now(); }, 2000); });
refresh();
"""

CSS = """.back { margin-left: auto; }
#set { color: #aaa; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.stage { position: relative; }
#countdown { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
  font-size: 8em; font-weight: bold; color: #fff; text-shadow: 0 0 0.2em #000; pointer-events: none; }
#countdown[hidden] { display: none; }
#countdown.recording { font-size: 3em; color: #ff5a4a; align-items: flex-start; justify-content: flex-end;
  padding: 0.4em; }
.session { color: #ccc; min-height: 1.4em; }
form label { display: block; margin-bottom: 0.5em; color: #aaa; }
form input { font: inherit; width: 100%; padding: 0.3em; background: #222; color: #eee; border: 1px solid #444; }
.numbers { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 0.5em; }
button { font: inherit; padding: 0.4em 1em; margin: 0.3em 0.3em 0.6em 0; background: var(--amber); color: #111;
  border: 0; border-radius: 0.3em; cursor: pointer; }
button:disabled { opacity: 0.5; cursor: default; }
.problem { color: #ff8a7a; }
.warning { color: var(--amber); }
.hint { color: #aaa; font-size: 0.9em; }
h3 { font-size: 1em; margin: 0.6em 0 0.3em; overflow-wrap: anywhere; }
.examples { list-style: none; margin: 0; padding: 0; display: grid; gap: 0.4em;
  grid-template-columns: repeat(auto-fill, minmax(96px, 1fr)); }
.examples li { position: relative; margin: 0; }
.examples img { display: block; width: 100%; height: auto; border-radius: 0.2em; }
.examples span { font-size: 0.8em; color: #aaa; }
.examples .delete { position: absolute; top: 0.2em; right: 0.2em; margin: 0; padding: 0 0.45em;
  background: #000a; color: #fff; }
.overall { font-size: 1.3em; margin: 0.2em 0; }
"""
