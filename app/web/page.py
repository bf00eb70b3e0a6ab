"""The web view's one page, its script and its style, kept in the package: nothing is read from disk.

The script fills the page from the event stream (`events`, one JSON status a message)
with textContent only, so a label from a user's label file can never become markup.
Addresses are relative, so the page also works behind a reverse proxy under a sub-path.
"""

from __future__ import annotations

HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MoViNet live</title>
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<header>
  <h1>MoViNet live</h1>
  <span id="source"></span>
  <span id="state" class="state">connecting</span>
</header>
<main>
  <section class="video"><img id="video" src="stream.mjpg" alt="the camera with the overlay"></section>
  <section class="panel">
    <h2>Top actions</h2>
    <ol id="top"></ol>
    <h2>Status</h2>
    <dl id="status">
      <dt>Model</dt><dd id="model">-</dd>
      <dt>Model rate</dt><dd id="fps">-</dd>
      <dt>Inference</dt><dd id="model_ms">-</dd>
      <dt>Latency</dt><dd id="latency">-</dd>
      <dt>Dropped frames</dt><dd id="dropped">-</dd>
      <dt>Uptime</dt><dd id="uptime">-</dd>
      <dt>CPU temperature</dt><dd id="temp">-</dd>
      <dt>Throttling</dt><dd id="throttled">-</dd>
      <dt>Viewers</dt><dd id="viewers">-</dd>
    </dl>
    <h2 id="pictures-title" hidden>Last events</h2>
    <ul id="pictures"></ul>
    <p class="links"><a href="api/status">status JSON</a> · <a href="snapshot.jpg">snapshot</a>
      · <a href="teach">teach</a></p>
  </section>
</main>
</body>
</html>
"""

JS = """"use strict";
const $ = (id) => document.getElementById(id);
const ROWS = 5;

function rows() {
  const list = $("top");
  while (list.children.length < ROWS) {
    const item = document.createElement("li");
    item.innerHTML = '<div class="row"><span class="label"></span><span class="score"></span></div>'
      + '<div class="track"><div class="bar"></div></div>';
    list.appendChild(item);
  }
  return list.children;
}

function uptime(seconds) {
  const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24;
  const m = Math.floor(s / 60) % 60;
  if (d) return d + " d " + h + " h";
  if (h) return h + " h " + m + " min";
  return (m ? m + " min " : "") + (s % 60) + " s";
}

function throttling(t) {
  if (!t) return "n/a";
  if (t.now.length) return "now: " + t.now.join(", ");
  if (t.since_boot.length) return "since boot: " + t.since_boot.join(", ");
  return "none";
}

function render(s) {
  $("source").textContent = s.source;
  const state = $("state");
  state.textContent = s.state;
  state.className = "state " + s.state;
  const items = rows();
  for (let i = 0; i < ROWS; i++) {
    const scored = s.top[i];
    const item = items[i];
    item.hidden = !scored;
    if (!scored) continue;
    const label = item.querySelector(".label");
    label.textContent = scored.label;
    label.title = scored.label;  // the whole of a label cut short with an ellipsis
    item.querySelector(".score").textContent = Math.round(scored.score * 100) + "%";
    item.querySelector(".bar").style.width = (Math.min(1, Math.max(0, scored.score)) * 100).toFixed(1) + "%";
  }
  document.title = (s.top.length ? s.top[0].label + " · " : "") + "MoViNet live";
  $("model").textContent = s.model + " · " + s.runtime + " · " + s.threads + " threads";
  const r = s.result;
  $("fps").textContent = r ? r.model_fps.toFixed(1) + " steps/s (target " + s.target_fps + ")" : "-";
  $("model_ms").textContent = r ? r.model_ms.toFixed(1) + " ms" : "-";
  $("latency").textContent = r ? Math.round(r.latency_ms) + " ms" : "-";
  $("dropped").textContent = r ? String(r.dropped) : "-";
  $("uptime").textContent = uptime(s.uptime_s);
  $("temp").textContent = s.cpu_temp_c === null ? "n/a" : s.cpu_temp_c.toFixed(1) + " °C";
  $("throttled").textContent = throttling(s.throttled);
  $("viewers").textContent = String(s.viewers);
}

const events = new EventSource("events");
events.onmessage = (message) => render(JSON.parse(message.data));
events.onerror = () => { $("state").textContent = "reconnecting"; $("state").className = "state stalled"; };

// The event pictures: the newest few, checked every few seconds (they come at most a few a minute).
async function pictures() {
  let listed = [];
  try { listed = await (await fetch("api/pictures")).json(); } catch (error) { return; }
  const list = $("pictures");
  $("pictures-title").hidden = listed.length === 0;
  list.replaceChildren(...listed.map((p) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = p.url;
    const image = document.createElement("img");
    image.src = p.url;
    image.alt = p.label;
    image.loading = "lazy";
    const caption = document.createElement("span");
    caption.textContent = p.label + " · " + p.started_at.replace("T", " ");
    link.append(image, caption);
    item.appendChild(link);
    return item;
  }));
}
pictures();
setInterval(pictures, 5000);

// The picture stream ends if the app restarts: ask again, gently.
const video = $("video");
video.addEventListener("error", () => {
  setTimeout(() => { video.src = "stream.mjpg?retry=" + Date.now(); }, 2000);
});
"""

CSS = """:root { color-scheme: dark; --amber: #ffb000; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.4 system-ui, "DejaVu Sans", sans-serif; background: #111; color: #eee; }
header { display: flex; align-items: baseline; gap: 1em; padding: 0.6em 1em; background: #1c1c1c; }
h1 { font-size: 1.2em; margin: 0; white-space: nowrap; }
h2 { font-size: 1em; margin: 0.2em 0 0.6em; color: #aaa; font-weight: normal; }
#source { color: #aaa; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.state { margin-left: auto; padding: 0.1em 0.6em; border-radius: 1em; background: #444; }
.state.ok { background: #1f6f3a; }
.state.stalled { background: #8a2a1f; }
main { display: flex; flex-wrap: wrap; gap: 1em; padding: 1em; }
.video { flex: 3 1 480px; min-width: 0; }
/* The whole picture in view, whatever its shape: a phone held either way, a laptop. */
.video img { display: block; width: 100%; height: auto; max-height: calc(100vh - 5em); object-fit: contain; }
/* min-width 0: a flex item is otherwise at least as wide as its longest unbreakable text,
   and one long label from a user's label file would widen the whole page. */
.panel { flex: 1 1 280px; min-width: 0; }
ol { list-style: none; margin: 0 0 1.2em; padding: 0; }
li { margin-bottom: 0.7em; }
.row { display: flex; justify-content: space-between; gap: 0.5em; }
.label { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.score { flex: none; }
.track { height: 0.5em; background: #333; border-radius: 0.25em; overflow: hidden; }
.bar { height: 100%; width: 0; background: var(--amber); transition: width 0.2s; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 0.3em 1em; margin: 0; }
dt { color: #aaa; }
dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.links { color: #aaa; font-size: 0.9em; }
#pictures { list-style: none; margin: 0 0 1em; padding: 0; display: grid; grid-template-columns: 1fr 1fr; gap: 0.5em; }
#pictures img { display: block; width: 100%; height: auto; border-radius: 0.2em; }
#pictures span { display: block; font-size: 0.8em; color: #aaa; }
a { color: var(--amber); }
"""
