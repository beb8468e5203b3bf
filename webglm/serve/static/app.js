// webglm page: posts the question to /v1/ask/stream and renders the server-sent events.
// Text from the server is only ever inserted as text nodes, never as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("ask"), input = $("question"), button = $("go"), keyInput = $("key");
  const statusEl = $("status"), answerEl = $("answer"), notesEl = $("notes"), sourcesEl = $("sources");
  const QUOTE = 400;

  keyInput.value = localStorage.getItem("webglm-key") || "";
  keyInput.addEventListener("change", () => localStorage.setItem("webglm-key", keyInput.value.trim()));

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setStatus(text) { statusEl.textContent = text; }

  function renderText(text, valid) {
    // "[n]" becomes a link to source n when n is a real reference; anything else stays text.
    answerEl.replaceChildren();
    for (const part of text.split(/(\[\d+\])/)) {
      const m = /^\[(\d+)\]$/.exec(part);
      if (m && valid.has(Number(m[1]))) {
        const a = el("a", { href: "#src-" + m[1], class: "cite", "data-ref": m[1] }, part);
        answerEl.append(a);
      } else if (part) {
        answerEl.append(document.createTextNode(part));
      }
    }
  }

  function renderSources(refs, cited) {
    sourcesEl.replaceChildren();
    for (const ref of refs) {
      const p = ref.passage;
      const li = el("li", { id: "src-" + ref.index, value: String(ref.index) });
      if (cited && !cited.has(ref.index)) li.classList.add("uncited");
      const link = el("a", { href: p.url, target: "_blank", rel: "noopener noreferrer", class: "source" },
                      p.title || p.url);
      const quote = p.text.length > QUOTE ? p.text.slice(0, QUOTE) + "…" : p.text;
      li.append(link, el("div", { class: "url" }, p.url), el("blockquote", {}, quote));
      sourcesEl.append(li);
    }
  }

  function showFinal(answer) {
    const refs = answer.references || [];
    const valid = new Set(refs.map((r) => r.index));
    const cited = new Set(answer.citations || []);
    answerEl.className = answer.abstained ? "abstained" : "";
    renderText(answer.text, valid);
    renderSources(refs, answer.abstained ? null : cited);
    notesEl.replaceChildren();
    const failed = (answer.trace && answer.trace.failures) || [];
    if (failed.length) notesEl.append(el("p", {}, failed.length + " source(s) could not be read."));
    if (answer.abstained) notesEl.append(el("p", {}, "No answer: the sources did not support one."));
    const t = answer.trace && answer.trace.timings && answer.trace.timings.total;
    setStatus(answer.abstained ? "Abstained." : "Answered" + (t ? " in " + t.toFixed(1) + " s." : "."));
  }

  function showError(message) {
    answerEl.className = "failed";
    answerEl.textContent = "Failed: " + message;
    setStatus("");
  }

  function handle(kind, data, state) {
    if (kind === "references") {
      renderSources(data.references || [], null);
      setStatus("Found " + (data.references || []).length + " references; writing the answer…");
    } else if (kind === "token") {
      state.draft += data.text;
      answerEl.className = "draft";
      answerEl.textContent = state.draft;
    } else if (kind === "final") {
      state.done = true;
      showFinal(data.answer);
    } else if (kind === "error") {
      state.done = true;
      showError(data.error + (data.status ? " (" + data.status + ")" : ""));
    }
  }

  async function ask(question) {
    const headers = { "content-type": "application/json" };
    const key = keyInput.value.trim();
    if (key) headers.authorization = "Bearer " + key;
    answerEl.replaceChildren(); notesEl.replaceChildren(); sourcesEl.replaceChildren();
    setStatus("Searching…");
    const resp = await fetch("v1/ask/stream", { method: "POST", headers, body: JSON.stringify({ question }) });
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      try { msg = (await resp.json()).error + " (" + resp.status + ")"; } catch (e) { /* not JSON */ }
      return showError(msg);
    }
    const reader = resp.body.getReader(), decoder = new TextDecoder();
    const state = { draft: "", done: false };
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      for (const block of blocks) {
        let kind = "message", data = "";
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith("event:")) kind = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "");
        }
        if (data) handle(kind, JSON.parse(data), state);
      }
    }
    if (!state.done) showError("the connection closed before the answer was complete");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question) return;
    button.disabled = true;
    try { await ask(question); } catch (e) { showError(String(e.message || e)); }
    finally { button.disabled = false; }
  });

  answerEl.addEventListener("click", (event) => {
    const a = event.target.closest("a.cite");
    if (!a) return;
    for (const li of sourcesEl.querySelectorAll("li.hl")) li.classList.remove("hl");
    const target = $("src-" + a.dataset.ref);
    if (target) target.classList.add("hl");
  });
})();
