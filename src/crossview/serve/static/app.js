// crossview serve: the single page. Every string from a file name or the server is set
// through textContent or attributes, never parsed as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let indexInfo = null;

function setStatus(text, isError) {
  const el = $("status");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// Local metres around (lat0, lon0): equirectangular, good to well under 1 % over a few km.
function projector(lat0, lon0) {
  const kx = 111320 * Math.cos(lat0 * Math.PI / 180);
  return (lat, lon) => [(lon - lon0) * kx, (lat - lat0) * 110574];
}

async function loadIndex() {
  try {
    const r = await fetch("/index");
    indexInfo = await r.json();
    const e = indexInfo.extent;
    $("index-facts").textContent =
      `${indexInfo.method} · ${indexInfo.tiles.toLocaleString()} tiles · checkpoint ` +
      `${indexInfo.checkpoint_sha256.slice(0, 12)} · lat ${e.lat_min.toFixed(4)}…` +
      `${e.lat_max.toFixed(4)}, lon ${e.lon_min.toFixed(4)}…${e.lon_max.toFixed(4)}`;
  } catch (err) {
    $("index-facts").textContent = "cannot reach the service";
  }
}

function formFields() {
  const data = new FormData();
  for (const input of $("options").elements) {
    if (input.name && input.value.trim() !== "") data.append(input.name, input.value.trim());
  }
  return data;
}

async function locate(file) {
  if (!file) return;
  $("query-img").src = URL.createObjectURL(file);
  $("query-name").textContent = file.name;
  $("query-figure").hidden = false;
  setStatus(`locating ${file.name}…`, false);
  const data = formFields();
  data.append("image", file, file.name);
  const started = performance.now();
  let doc;
  try {
    const r = await fetch("/locate", { method: "POST", body: data });
    doc = await r.json();
    if (!r.ok) { setStatus(doc.error || `HTTP ${r.status}`, true); return; }
  } catch (err) {
    setStatus("the service did not answer", true);
    return;
  }
  const ms = Math.round(performance.now() - started);
  setStatus(`${doc[0].candidates.length} candidates in ${ms} ms`, false);
  await showResult(doc[0]);
}

function showHeading(result) {
  const best = result.candidates[0];
  const el = $("heading");
  if (result.heading_deg !== null) {
    el.textContent = `heading given: ${result.heading_deg.toFixed(0)}°`;
  } else if (best && best.heading_deg !== null) {
    el.textContent = `estimated heading: ${best.heading_deg.toFixed(0)}° (clockwise from north)`;
  } else {
    el.textContent = "";
  }
  el.hidden = el.textContent === "";
}

function showTable(result) {
  const body = $("candidates").tBodies[0];
  body.replaceChildren();
  for (const c of result.candidates) {
    const tr = document.createElement("tr");
    tr.className = "candidate";
    const img = document.createElement("img");
    img.src = `/tile/${encodeURIComponent(c.tile)}`;
    img.alt = `tile ${c.tile}`;
    const cells = [String(c.rank), img, c.score.toFixed(3),
      `${c.lat.toFixed(6)}, ${c.lon.toFixed(6)}`,
      c.heading_deg === null ? "–" : `${c.heading_deg.toFixed(0)}°`, c.tile];
    for (const v of cells) {
      const td = document.createElement("td");
      if (typeof v === "string") td.textContent = v; else td.appendChild(v);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

async function showMap(result) {
  const map = $("map");
  map.replaceChildren();
  const cands = result.candidates;
  if (!cands.length) return;
  const [lat0, lon0] = [cands[0].lat, cands[0].lon];
  const project = projector(lat0, lon0);
  let reach = 0;
  for (const c of cands) reach = Math.max(reach, Math.hypot(...project(c.lat, c.lon)));
  const radius = Math.min(50000, Math.max(300, 1.3 * reach + 200));
  let tiles = [];
  try {
    const r = await fetch(`/tiles?lat=${lat0}&lon=${lon0}&radius=${radius}`);
    if (r.ok) tiles = await r.json();
  } catch (err) { tiles = []; }
  const known = tiles.filter(t => t.footprint_m).map(t => t.footprint_m);
  const side = known.length ? known.reduce((a, b) => a + b) / known.length : radius / 15;
  // View: the candidates' box plus two tiles of context, kept at the SVG's aspect ratio.
  const xy = cands.map(c => project(c.lat, c.lon));
  const xs = xy.map(p => p[0]), ys = xy.map(p => -p[1]);
  const pad = 2 * side;
  let [x0, x1] = [Math.min(...xs) - pad, Math.max(...xs) + pad];
  let [y0, y1] = [Math.min(...ys) - pad, Math.max(...ys) + pad];
  const box = map.getBoundingClientRect();
  const aspect = box.width > 0 && box.height > 0 ? box.width / box.height : 1;
  if ((x1 - x0) / (y1 - y0) < aspect) {
    const grow = ((y1 - y0) * aspect - (x1 - x0)) / 2; x0 -= grow; x1 += grow;
  } else {
    const grow = ((x1 - x0) / aspect - (y1 - y0)) / 2; y0 -= grow; y1 += grow;
  }
  map.setAttribute("viewBox", `${x0} ${y0} ${x1 - x0} ${y1 - y0}`);
  const place = (t, cls, opacity) => {
    const [x, y] = project(t.lat, t.lon);
    const s = t.footprint_m || side;
    const img = svg("image", { x: x - s / 2, y: -y - s / 2, width: s, height: s,
      opacity, class: cls, preserveAspectRatio: "none" });
    img.setAttribute("href", `/tile/${encodeURIComponent(t.tile)}`);
    map.appendChild(img);
    return [x, -y, s];
  };
  const candIds = new Set(cands.map(c => c.tile));
  for (const t of tiles) if (!candIds.has(t.tile)) place(t, "context", 0.45);
  const sizes = new Map(tiles.map(t => [t.tile, t.footprint_m]));
  [...cands].reverse().forEach(c => {
    const [x, y, s] = place({ ...c, footprint_m: sizes.get(c.tile) }, "candidate", 1.0);
    map.appendChild(svg("rect", { x: x - s / 2, y: y - s / 2, width: s, height: s,
      fill: "none", stroke: c.rank === 1 ? "#ffd400" : "#ffffff", "stroke-width": s / 25 }));
    const label = svg("text", { x, y, "text-anchor": "middle", "dominant-baseline": "middle",
      "font-size": s / 3 });
    label.textContent = String(c.rank);
    label.style.fontSize = `${s / 3}px`;
    label.style.strokeWidth = `${s / 30}px`;
    map.appendChild(label);
  });
  const best = cands[0];
  const heading = result.heading_deg !== null ? result.heading_deg : best.heading_deg;
  if (heading !== null) {
    const s = sizes.get(best.tile) || side;
    const a = heading * Math.PI / 180;
    map.appendChild(svg("line", { x1: 0, y1: 0, x2: 0.8 * s * Math.sin(a),
      y2: -0.8 * s * Math.cos(a), stroke: "#ff3b30", "stroke-width": s / 18,
      "stroke-linecap": "round", class: "heading-arrow" }));
  }
}

async function showResult(result) {
  showHeading(result);
  showTable(result);
  $("result-panel").hidden = false;
  await showMap(result);
  document.body.dataset.state = "done";
}

function wire() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => locate(e.target.files[0]));
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const ev of ["dragleave", "drop"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => locate(e.dataTransfer.files[0]));
}

wire();
loadIndex();
