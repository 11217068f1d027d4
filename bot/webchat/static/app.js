// acnebot web chat: sends what the patient types, taps and uploads; shows what the bot answers.
// Requests go one after another (a queue), so the bot sees them in the order the patient made them.
// Replies arrive as NDJSON lines ({"messages": [...]}); one that started slow work (an assessment) ends with
// "working": true, and the work's result is collected from /api/pushed before the next request goes.
"use strict";

(() => {
  const UI = {
    en: {
      subtitle: "Acne check-ins · not a diagnosis",
      welcome: "Hello! I am acnebot. Tap Start (or type /start) to begin.",
      start: "Start", send: "Send", photo: "Photo", placeholder: "Type a message or /command",
      failed: "The message did not go through.", retry: "Try again",
      tooLarge: "That file is too large (at most {mb} MB).", notImage: "Please choose a picture (JPEG, PNG, WebP, HEIC).",
      expired: "This picture is no longer available.", yourPhoto: "Your photo",
    },
    zh: {
      subtitle: "痤疮自查 · 非医疗诊断",
      welcome: "你好！我是 acnebot。点击“开始”（或输入 /start）即可开始。",
      start: "开始", send: "发送", photo: "照片", placeholder: "输入消息或 /命令",
      failed: "消息未能发送。", retry: "重试",
      tooLarge: "文件太大（最大 {mb} MB）。", notImage: "请选择一张图片（JPEG、PNG、WebP、HEIC）。",
      expired: "这张图片已不可用。", yourPhoto: "你的照片",
    },
  };
  const LOCALE = navigator.language || "en";
  const ui = LOCALE.toLowerCase().startsWith("zh") ? UI.zh : UI.en;
  const HEADERS = { "X-Requested-With": "acnebot-webchat" };
  const MAX_PHOTO_BYTES = Number(document.body.dataset.maxPhotoBytes) || 25 * 1024 * 1024;

  const log = document.getElementById("log");
  const typing = document.getElementById("typing");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const fileInput = document.getElementById("file");

  // -- the page's own texts ------------------------------------------------------------------------------
  document.documentElement.lang = ui === UI.zh ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-ui]")) el.textContent = ui[el.dataset.ui];
  input.placeholder = ui.placeholder;
  document.getElementById("photo").title = ui.photo;

  // -- sending -------------------------------------------------------------------------------------------
  let queue = Promise.resolve();
  let pending = 0;

  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function enqueue(job) {
    const run = queue.then(job);
    queue = run.catch(() => {});
    return run;
  }

  function busy(delta) {
    pending += delta;
    typing.hidden = pending === 0;
    scrollDown();
  }

  // Sends one request (kept under its id, so "Try again" is a redelivery the bot answers once) and shows
  // the replies; `prompt` is the Choices bubble whose button was tapped, replaced when the reply edits it.
  function send(makeRequest, prompt = null) {
    const id = newId();
    const attempt = () => enqueue(async () => {
      busy(+1);
      try {
        const response = await fetch(...makeRequest(id));
        if (!response.ok) throw new Error(await errorText(response));
        if (await readReplies(response, prompt)) await whileWorking();
      } catch (error) {
        failed(error, attempt, prompt);
      } finally {
        busy(-1);
      }
    });
    return attempt();
  }

  function sendMessage(kind, payload, prompt = null) {
    return send((id) => ["/api/message", {
      method: "POST", headers: { ...HEADERS, "Content-Type": "application/json" },
      body: JSON.stringify({ id, kind, payload, locale: LOCALE }),
    }], prompt);
  }

  function sendPhoto(file) {
    return send((id) => {
      const body = new FormData();
      body.append("id", id);
      body.append("locale", LOCALE);
      body.append("photo", file, file.name || "photo.jpg");
      return ["/api/photo", { method: "POST", headers: HEADERS, body }];
    });
  }

  async function errorText(response) {
    try { return (await response.json()).error || response.statusText; } catch { return response.statusText; }
  }

  // Shows the replies as they come; returns whether the bot is still working on something they started.
  async function readReplies(response, prompt) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", done = false, working = false;
    const take = (line) => {
      if (!line.trim()) return;
      const batch = JSON.parse(line);
      if (batch.error) throw new Error(batch.error);
      for (const message of batch.messages || []) prompt = show(message, prompt);
      done = done || batch.done === true;
      working = working || batch.working === true;
    };
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        take(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    }
    take(buffer + decoder.decode());
    if (!done) throw new Error("the reply was cut off");
    return working;
  }

  function failed(error, retry, prompt) {
    if (prompt) enable(prompt, true);
    const note = bubble("notice");
    note.append(paragraph(`${ui.failed} (${error.message})`));
    const again = button(ui.retry, () => { note.remove(); retry(); });
    again.style.marginLeft = ".5rem";
    note.append(again);
  }

  // -- showing -------------------------------------------------------------------------------------------
  const RENDER = {
    text(message) {
      bubble("bot").append(paragraph(message.text));
    },
    choices(message, prompt) {
      const el = choicesBubble(message);
      if (message.edit && prompt && prompt.isConnected) {
        prompt.replaceWith(el);  // a toggled multiple-choice question: the same prompt, updated
      } else {
        // A new prompt makes the earlier ones stale (the bot would only say so): their buttons go grey.
        for (const earlier of log.querySelectorAll("section.choices")) enable(earlier, false, true);
        log.append(el);
      }
      return el;
    },
    image(message) {
      const el = bubble("bot");
      const img = document.createElement("img");
      img.alt = message.caption || "";
      img.addEventListener("load", scrollDown);
      img.addEventListener("error", () => img.replaceWith(paragraph(ui.expired)));
      img.src = message.url;
      el.append(img);
      // A result's caption is the whole result (several lines): read at full size, in the same bubble.
      if (message.caption) el.append(paragraph(message.caption, message.caption.includes("\n") ? "result" : "caption"));
    },
    file(message) {
      // The file came inside the reply (the server keeps no copy): offered as a download from memory.
      const bytes = Uint8Array.from(atob(message.data), (c) => c.charCodeAt(0));
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([bytes], { type: message.mime_type }));
      link.download = message.name;
      link.textContent = `⬇ ${message.name}`;
      link.className = "download";
      const el = bubble("bot");
      el.append(link);
      if (message.caption) el.append(paragraph(message.caption, "caption"));
    },
    typing() { /* the dots show while any request is pending */ },
  };

  function show(message, prompt) {
    const render = RENDER[message.type];
    const shown = render ? render(message, prompt) : undefined;
    scrollDown();
    return message.type === "choices" && message.edit ? shown : prompt;
  }

  function choicesBubble(message) {
    const el = document.createElement("section");
    el.className = "msg bot choices";
    el.append(paragraph(message.text));
    const row = document.createElement("div");
    row.className = "buttons";
    for (const option of message.options) {
      const b = button(option.label, () => {
        enable(el, false);
        b.classList.add("chosen");
        sendMessage("choice", option.data, el);
      });
      b.dataset.choice = option.data;
      row.append(b);
    }
    el.append(row);
    return el;
  }

  function enable(prompt, on, keepChosen = false) {
    for (const b of prompt.querySelectorAll("button")) {
      b.disabled = !on;
      if (!keepChosen) b.classList.remove("chosen");
    }
  }

  function bubble(kind) {
    const el = document.createElement("section");
    el.className = `msg ${kind}`;
    log.append(el);
    return el;
  }

  function paragraph(text, className = "") {
    const p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    return p;
  }

  function button(label, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function scrollDown() {
    requestAnimationFrame(() => { log.scrollTop = log.scrollHeight; });
  }

  // -- the patient's input -------------------------------------------------------------------------------
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    bubble("me").append(paragraph(text));
    scrollDown();
    sendMessage(/^\/[A-Za-z]/.test(text) ? "command" : "text", text);
  });

  document.getElementById("start").addEventListener("click", (event) => {
    event.currentTarget.disabled = true;
    bubble("me").append(paragraph("/start"));
    sendMessage("command", "/start");
  });

  document.getElementById("photo").addEventListener("click", () => fileInput.click());

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) return notice(ui.notImage);
    if (file.size > MAX_PHOTO_BYTES) {
      return notice(ui.tooLarge.replace("{mb}", Math.floor(MAX_PHOTO_BYTES / 1048576)));
    }
    const el = bubble("me photo-msg");
    const img = document.createElement("img");
    img.alt = ui.yourPhoto;
    img.addEventListener("load", () => { URL.revokeObjectURL(img.src); scrollDown(); });
    img.src = URL.createObjectURL(file);
    el.append(img);
    scrollDown();
    sendPhoto(file);
  });

  // -- messages pushed outside a reply: the result of slow work, a person from the team answering ------------
  // Collected every few seconds, and every half second while the bot works on something for this patient. Always in
  // the queue: they never land in the middle of a reply, and the patient's next message goes after the result.
  const POLL_MS = 4000;
  const WORKING_POLL_MS = 500;

  // Shows what was pushed; returns whether work for this patient is still running.
  async function collectPushed() {
    const response = await fetch("/api/pushed", { headers: HEADERS, cache: "no-store" });
    if (!response.ok) return false;
    const batch = await response.json();
    for (const message of batch.messages || []) show(message, null);
    return batch.working === true;
  }

  async function whileWorking() {
    try {
      while (await collectPushed()) await new Promise((resolve) => setTimeout(resolve, WORKING_POLL_MS));
    } catch { /* offline for a moment: the next poll collects it */ }
  }

  setInterval(() => {
    if (document.hidden || pending > 0) return;
    enqueue(async () => {
      try {
        if (!(await collectPushed())) return;
      } catch { return; /* offline for a moment: the next poll collects them */ }
      busy(+1);  // the page was opened again while work for it runs: collected until its result
      try {
        await whileWorking();
      } finally {
        busy(-1);
      }
    });
  }, POLL_MS);

  function notice(text) {
    bubble("notice").append(paragraph(text));
    scrollDown();
  }
})();
