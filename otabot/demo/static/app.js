// otabot demo page: a Slack-like channel that plays Slack's side for the local app.
// Renders the Block Kit otabot sends. Every string from the app or the user goes into
// the DOM as text nodes (textContent / createTextNode), never as HTML.
"use strict";

(() => {
  const POLL_MS = 500;
  const SVG_NS = "http://www.w3.org/2000/svg";

  // ----- emoji ---------------------------------------------------------------------
  // The shortcodes otabot uses are drawn as small SVGs, so they look the same on any
  // machine (no emoji font needed); a few common ones map to Unicode; the rest stay text.
  const EMOJI_SVG = {
    white_check_mark: [
      ["rect", { x: 1, y: 1, width: 18, height: 18, rx: 4, fill: "#2eb67d" }],
      ["path", { d: "M5.2 10.4l3.1 3.1 6.5-7", fill: "none", stroke: "#fff", "stroke-width": 2.4, "stroke-linecap": "round", "stroke-linejoin": "round" }],
    ],
    heavy_check_mark: [
      ["path", { d: "M3.5 10.5l4.2 4.2 8.8-9.4", fill: "none", stroke: "#1d1c1d", "stroke-width": 3, "stroke-linecap": "round", "stroke-linejoin": "round" }],
    ],
    hourglass_flowing_sand: [
      ["rect", { x: 3.5, y: 1.5, width: 13, height: 2.2, rx: 1, fill: "#8d6e63" }],
      ["rect", { x: 3.5, y: 16.3, width: 13, height: 2.2, rx: 1, fill: "#8d6e63" }],
      ["path", { d: "M5.2 3.7h9.6c0 3.4-2.6 4.9-3.6 6.3 1 1.4 3.6 2.9 3.6 6.3H5.2c0-3.4 2.6-4.9 3.6-6.3-1-1.4-3.6-2.9-3.6-6.3z", fill: "#e3f2fd", stroke: "#90a4ae", "stroke-width": 0.8 }],
      ["path", { d: "M7 6.2h6c-.6 1.3-2 2.3-3 3.4-1-1.1-2.4-2.1-3-3.4z", fill: "#ffb300" }],
      ["path", { d: "M6.4 15.6c.5-1.6 2.2-2.5 3.6-2.9 1.4.4 3.1 1.3 3.6 2.9z", fill: "#ffb300" }],
      ["path", { d: "M10 9.8v3.1", stroke: "#ffb300", "stroke-width": 0.9 }],
    ],
    hourglass: [
      ["rect", { x: 3.5, y: 1.5, width: 13, height: 2.2, rx: 1, fill: "#8d6e63" }],
      ["rect", { x: 3.5, y: 16.3, width: 13, height: 2.2, rx: 1, fill: "#8d6e63" }],
      ["path", { d: "M5.2 3.7h9.6c0 3.4-2.6 4.9-3.6 6.3 1 1.4 3.6 2.9 3.6 6.3H5.2c0-3.4 2.6-4.9 3.6-6.3-1-1.4-3.6-2.9-3.6-6.3z", fill: "#e3f2fd", stroke: "#90a4ae", "stroke-width": 0.8 }],
      ["path", { d: "M6.4 15.6c.5-1.6 2.2-2.5 3.6-2.9 1.4.4 3.1 1.3 3.6 2.9z", fill: "#ffb300" }],
    ],
    no_entry_sign: [
      ["circle", { cx: 10, cy: 10, r: 7.6, fill: "#fff", stroke: "#e01e5a", "stroke-width": 2.6 }],
      ["path", { d: "M4.8 4.8l10.4 10.4", stroke: "#e01e5a", "stroke-width": 2.6 }],
    ],
    no_entry: [
      ["circle", { cx: 10, cy: 10, r: 8.6, fill: "#e01e5a" }],
      ["rect", { x: 4.6, y: 8.5, width: 10.8, height: 3, rx: 0.8, fill: "#fff" }],
    ],
    warning: [
      ["path", { d: "M10 1.8l8.6 15.4H1.4z", fill: "#ecb22e", stroke: "#ecb22e", "stroke-width": 1.2, "stroke-linejoin": "round" }],
      ["rect", { x: 9, y: 6.6, width: 2, height: 6, rx: 1, fill: "#1d1c1d" }],
      ["circle", { cx: 10, cy: 14.8, r: 1.15, fill: "#1d1c1d" }],
    ],
    grey_question: [
      ["path", { d: "M6.6 7.2c0-2 1.6-3.4 3.6-3.4s3.5 1.3 3.5 3.1c0 2.6-3.2 2.8-3.2 5.3", fill: "none", stroke: "#9e9ea6", "stroke-width": 2.4, "stroke-linecap": "round" }],
      ["circle", { cx: 10.5, cy: 16, r: 1.5, fill: "#9e9ea6" }],
    ],
    question: [
      ["path", { d: "M6.6 7.2c0-2 1.6-3.4 3.6-3.4s3.5 1.3 3.5 3.1c0 2.6-3.2 2.8-3.2 5.3", fill: "none", stroke: "#e01e5a", "stroke-width": 2.4, "stroke-linecap": "round" }],
      ["circle", { cx: 10.5, cy: 16, r: 1.5, fill: "#e01e5a" }],
    ],
    arrows_counterclockwise: [
      ["rect", { x: 1, y: 1, width: 18, height: 18, rx: 4, fill: "#1d9bd1" }],
      ["path", { d: "M14.6 8.2A5 5 0 0 0 5.6 7.6M5.4 11.8a5 5 0 0 0 9 .6", fill: "none", stroke: "#fff", "stroke-width": 1.8, "stroke-linecap": "round" }],
      ["path", { d: "M4.2 5.2l1.4 2.6 2.7-1.1M15.8 14.8l-1.4-2.6-2.7 1.1", fill: "none", stroke: "#fff", "stroke-width": 1.8, "stroke-linecap": "round", "stroke-linejoin": "round" }],
    ],
    x: [
      ["path", { d: "M4.5 4.5l11 11M15.5 4.5l-11 11", stroke: "#e01e5a", "stroke-width": 3.2, "stroke-linecap": "round" }],
    ],
    information_source: [
      ["rect", { x: 1, y: 1, width: 18, height: 18, rx: 4, fill: "#1d9bd1" }],
      ["circle", { cx: 10, cy: 5.6, r: 1.5, fill: "#fff" }],
      ["rect", { x: 8.8, y: 8.4, width: 2.4, height: 7.4, rx: 1, fill: "#fff" }],
    ],
    large_green_circle: [["circle", { cx: 10, cy: 10, r: 8, fill: "#2eb67d" }]],
    large_yellow_circle: [["circle", { cx: 10, cy: 10, r: 8, fill: "#ecb22e" }]],
    red_circle: [["circle", { cx: 10, cy: 10, r: 8, fill: "#e01e5a" }]],
    large_blue_circle: [["circle", { cx: 10, cy: 10, r: 8, fill: "#1d9bd1" }]],
    white_circle: [["circle", { cx: 10, cy: 10, r: 7.4, fill: "#fff", stroke: "#9e9ea6", "stroke-width": 1.2 }]],
  };
  const EMOJI_TEXT = {
    tada: "\u{1F389}", rocket: "\u{1F680}", eyes: "\u{1F440}", bulb: "\u{1F4A1}",
    package: "\u{1F4E6}", rotating_light: "\u{1F6A8}", mag: "\u{1F50D}", zap: "\u26A1",
    thumbsup: "\u{1F44D}", "+1": "\u{1F44D}", robot_face: "\u{1F916}", gear: "\u2699\uFE0F",
  };

  // ----- small DOM helpers -----------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgEmoji(name) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 20 20");
    svg.setAttribute("class", "emoji");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `:${name}:`);
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = `:${name}:`;
    svg.appendChild(title);
    for (const [tag, attrs] of EMOJI_SVG[name]) {
      const shape = document.createElementNS(SVG_NS, tag);
      for (const [key, value] of Object.entries(attrs)) shape.setAttribute(key, String(value));
      svg.appendChild(shape);
    }
    return svg;
  }

  function emojiNode(name) {
    if (Object.prototype.hasOwnProperty.call(EMOJI_SVG, name)) return svgEmoji(name);
    if (Object.prototype.hasOwnProperty.call(EMOJI_TEXT, name)) {
      const span = el("span", "emoji-text", EMOJI_TEXT[name]);
      span.title = `:${name}:`;
      return span;
    }
    return null;
  }

  function unescapeEntities(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  // Plain text with :shortcodes: turned into emoji (plain_text objects with emoji: true).
  function appendWithEmoji(parent, text, withEmoji) {
    if (!withEmoji) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    const pattern = /:([a-z0-9_+'-]+):/g;
    let last = 0;
    let match;
    while ((match = pattern.exec(text)) !== null) {
      const node = emojiNode(match[1]);
      if (!node) {
        pattern.lastIndex = match.index + match[0].length - 1; // the closing colon may open the next
        continue;
      }
      parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      parent.appendChild(node);
      last = match.index + match[0].length;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // ----- dates: <!date^UNIX^{tokens}|fallback> in the reader's own time zone -------------
  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function prettyDay(date, otherwise) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
    if (sameDay(date, today)) return "Today";
    if (sameDay(date, yesterday)) return "Yesterday";
    if (sameDay(date, tomorrow)) return "Tomorrow";
    return otherwise;
  }

  function agoText(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
    const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size || unit === "second") return format.format(Math.round(seconds / size), unit);
    }
    return "";
  }

  function formatDateTokens(date, template) {
    const fmt = (options) => new Intl.DateTimeFormat(undefined, options).format(date);
    const pad = (n) => String(n).padStart(2, "0");
    const dateShort = fmt({ month: "short", day: "numeric", year: "numeric" });
    const dateMedium = fmt({ month: "long", day: "numeric", year: "numeric" });
    const dateLong = fmt({ weekday: "long", month: "long", day: "numeric", year: "numeric" });
    const values = {
      date_num: `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`,
      date: dateMedium,
      date_short: dateShort,
      date_long: dateLong,
      date_pretty: prettyDay(date, dateMedium),
      date_short_pretty: prettyDay(date, dateShort),
      date_long_pretty: prettyDay(date, dateLong),
      time: fmt({ hour: "numeric", minute: "2-digit" }),
      time_secs: fmt({ hour: "numeric", minute: "2-digit", second: "2-digit" }),
      ago: agoText(date),
    };
    return template.replace(/\{([a-z_]+)\}/g, (whole, token) =>
      Object.prototype.hasOwnProperty.call(values, token) ? values[token] : whole);
  }

  function dateNode(spec, fallback) {
    // spec: "date^UNIX^TEMPLATE" or "date^UNIX^TEMPLATE^LINK"
    const parts = spec.split("^");
    const seconds = Number(parts[1]);
    if (parts.length < 3 || !Number.isFinite(seconds)) return null;
    const date = new Date(seconds * 1000);
    const node = el("time", "slack-date", formatDateTokens(date, unescapeEntities(parts[2])));
    node.dateTime = date.toISOString();
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
    node.title = `${date.toLocaleString()} (${zone})` + (fallback ? ` · ${unescapeEntities(fallback)}` : "");
    return node;
  }

  // ----- mrkdwn ------------------------------------------------------------------
  const INLINE = new RegExp(
    [
      "`([^`\\n]+)`", // 1 code
      "<([^<>\\n]+)>", // 2 link, mention, date, special
      "(?<![\\p{L}\\p{N}*])\\*(?!\\s)([^*\\n]+?)(?<!\\s)\\*(?![\\p{L}\\p{N}*])", // 3 bold
      "(?<![\\p{L}\\p{N}_])_(?!\\s)([^_\\n]+?)(?<!\\s)_(?![\\p{L}\\p{N}_])", // 4 italic
      "(?<![\\p{L}\\p{N}~])~(?!\\s)([^~\\n]+?)(?<!\\s)~(?![\\p{L}\\p{N}~])", // 5 strike
      ":([a-z0-9_+'-]+):", // 6 emoji
    ].join("|"),
    "gu",
  );

  function safeHref(url) {
    return /^(https?:|mailto:)/i.test(url) ? url : null;
  }

  function angleNode(inner) {
    const bar = inner.indexOf("|");
    const target = bar >= 0 ? inner.slice(0, bar) : inner;
    const label = bar >= 0 ? inner.slice(bar + 1) : null;
    if (target.startsWith("!date^")) return dateNode(target.slice(1), label);
    if (target.startsWith("@")) {
      const id = target.slice(1);
      const name = (state.info && state.info.users[id]) || (label ? unescapeEntities(label) : id);
      return el("span", "mention", `@${name}`);
    }
    if (target.startsWith("#")) {
      const id = target.slice(1);
      const name = (state.info && state.info.channels[id]) || (label ? unescapeEntities(label) : id);
      return el("span", "mention", `#${name}`);
    }
    if (target.startsWith("!")) {
      const special = label ? unescapeEntities(label) : `@${target.slice(1).split("^")[0]}`;
      return el("span", "mention broadcast", special);
    }
    const href = safeHref(unescapeEntities(target));
    if (!href) return null;
    const link = el("a", "link", label ? unescapeEntities(label) : href);
    link.href = href;
    if (!href.startsWith(`${location.origin}/#`)) {
      link.target = "_blank"; // a permalink into this channel stays on the page
      link.rel = "noopener noreferrer";
    }
    return link;
  }

  function renderInline(text, parent) {
    let last = 0;
    INLINE.lastIndex = 0;
    const matches = [];
    let match;
    while ((match = INLINE.exec(text)) !== null) matches.push([match.index, match[0], match.slice(1)]);
    for (const [index, whole, groups] of matches) {
      if (index < last) continue;
      const [code, angle, bold, italic, strike, emoji] = groups;
      let node = null;
      if (code !== undefined) {
        node = el("code", "inline-code", unescapeEntities(code));
      } else if (angle !== undefined) {
        node = angleNode(angle);
      } else if (bold !== undefined) {
        node = el("b");
        renderInline(bold, node);
      } else if (italic !== undefined) {
        node = el("i");
        renderInline(italic, node);
      } else if (strike !== undefined) {
        node = el("s");
        renderInline(strike, node);
      } else if (emoji !== undefined) {
        node = emojiNode(emoji);
      }
      if (!node) continue; // not a recognised construct: leave it as text
      parent.appendChild(document.createTextNode(unescapeEntities(text.slice(last, index))));
      parent.appendChild(node);
      last = index + whole.length;
    }
    parent.appendChild(document.createTextNode(unescapeEntities(text.slice(last))));
  }

  // Slack quotes a line that starts with ">", as apps write it, or "&gt;", as Slack stores it.
  const QUOTE_MARK = /^(?:>|&gt;)\s?/;

  function renderLines(text, parent) {
    const lines = text.split("\n");
    let quote = null;
    lines.forEach((line, i) => {
      const quoted = QUOTE_MARK.test(line);
      if (quoted) {
        if (!quote) {
          quote = el("blockquote", "quote");
          parent.appendChild(quote);
        } else {
          quote.appendChild(el("br"));
        }
        renderInline(line.replace(QUOTE_MARK, ""), quote);
        return;
      }
      if (quote) quote = null;
      else if (i > 0) parent.appendChild(el("br"));
      renderInline(line, parent);
    });
  }

  function renderMrkdwn(text, parent) {
    const pre = /```([\s\S]*?)```/g;
    let last = 0;
    let match;
    while ((match = pre.exec(text)) !== null) {
      renderLines(text.slice(last, match.index).replace(/\n$/, ""), parent);
      parent.appendChild(el("pre", "pre", unescapeEntities(match[1].replace(/^\n/, ""))));
      last = match.index + match[0].length;
      if (text[last] === "\n") last += 1;
    }
    if (last < text.length) renderLines(text.slice(last), parent);
  }

  function renderText(obj, parent) {
    if (!obj || typeof obj.text !== "string") return;
    if (obj.type === "mrkdwn") renderMrkdwn(obj.text, parent);
    else appendWithEmoji(parent, obj.text, obj.emoji !== false);
  }

  // ----- Block Kit -----------------------------------------------------------------
  function renderButton(button, blockId, message) {
    const node = el("button", "bk-button");
    node.type = "button";
    if (button.style === "primary" || button.style === "danger") node.classList.add(button.style);
    renderText(button.text, node);
    node.dataset.actionId = button.action_id || "";
    node.dataset.blockId = blockId || "";
    node.addEventListener("click", () => clickButton(node, button, blockId, message));
    return node;
  }

  function unsupported(what) {
    return el("div", "bk-unsupported", `[${what} is not shown in this demo]`);
  }

  function renderBlock(block, message) {
    switch (block.type) {
      case "header": {
        const node = el("div", "bk-header");
        renderText(block.text, node);
        return node;
      }
      case "section": {
        const node = el("div", "bk-section");
        const main = el("div", "bk-section-main");
        if (block.text) {
          const text = el("div", "bk-text");
          renderText(block.text, text);
          main.appendChild(text);
        }
        if (Array.isArray(block.fields) && block.fields.length) {
          const fields = el("div", "bk-fields");
          for (const field of block.fields) {
            const cell = el("div", "bk-field");
            renderText(field, cell);
            fields.appendChild(cell);
          }
          main.appendChild(fields);
        }
        node.appendChild(main);
        if (block.accessory) {
          const side = el("div", "bk-accessory");
          side.appendChild(block.accessory.type === "button"
            ? renderButton(block.accessory, block.block_id, message)
            : unsupported(block.accessory.type || "element"));
          node.appendChild(side);
        }
        return node;
      }
      case "context": {
        const node = el("div", "bk-context");
        for (const element of block.elements || []) {
          if (element.type === "image") {
            node.appendChild(el("span", "bk-context-image", element.alt_text || "image"));
          } else {
            const span = el("span", "bk-context-item");
            renderText(element, span);
            node.appendChild(span);
          }
        }
        return node;
      }
      case "divider":
        return el("hr", "bk-divider");
      case "actions": {
        const node = el("div", "bk-actions");
        for (const element of block.elements || []) {
          node.appendChild(element.type === "button"
            ? renderButton(element, block.block_id, message)
            : unsupported(element.type || "element"));
        }
        return node;
      }
      case "image":
        return el("div", "bk-unsupported", `[image: ${block.alt_text || ""}]`);
      default:
        return unsupported(`a ${block.type || "unknown"} block`);
    }
  }

  // ----- messages --------------------------------------------------------------------
  function eyeIcon() {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 20 20");
    svg.setAttribute("class", "eye");
    svg.setAttribute("aria-hidden", "true");
    const outline = document.createElementNS(SVG_NS, "path");
    outline.setAttribute("d", "M1.5 10S4.8 4.5 10 4.5 18.5 10 18.5 10 15.2 15.5 10 15.5 1.5 10 1.5 10z");
    outline.setAttribute("fill", "none");
    outline.setAttribute("stroke", "currentColor");
    outline.setAttribute("stroke-width", "1.5");
    const pupil = document.createElementNS(SVG_NS, "circle");
    pupil.setAttribute("cx", "10");
    pupil.setAttribute("cy", "10");
    pupil.setAttribute("r", "2.6");
    pupil.setAttribute("fill", "currentColor");
    svg.append(outline, pupil);
    return svg;
  }

  function author(message) {
    const info = state.info || { user: { name: "you" }, app: { name: "otabot" } };
    if (message.kind === "app") return { name: info.app.name, app: true, avatar: "app" };
    if (message.kind === "system") return { name: "Slackbot", app: false, avatar: "system" };
    return { name: info.user.name, app: false, avatar: "user" };
  }

  function clockTime(seconds) {
    return new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" }).format(new Date(seconds * 1000));
  }

  function renderMessage(message) {
    const who = author(message);
    const node = el("article", `message kind-${message.kind}`);
    node.dataset.messageId = message.id;
    node.dataset.kind = message.kind;
    node.dataset.visibility = message.ephemeral ? "ephemeral" : "channel";
    node.dataset.revision = String(message.revision);
    node.id = `m${message.id}`; // where a permalink (#m<ts>) leads
    if (message.thread_ts) {
      node.classList.add("thread-reply");
      node.dataset.thread = message.thread_ts;
      node.appendChild(el("div", "thread-note", "↳ replied in the thread"));
    }

    if (message.ephemeral && message.kind !== "command") {
      const note = el("div", "ephemeral-note");
      note.appendChild(eyeIcon());
      note.appendChild(document.createTextNode("Only visible to you"));
      node.appendChild(note);
    }
    const row = el("div", "message-row");
    const avatar = el("div", `avatar avatar-${who.avatar}`);
    if (who.avatar === "app") avatar.appendChild(el("span", "", "OTA"));
    else if (who.avatar === "system") avatar.appendChild(el("span", "", "S"));
    else avatar.appendChild(el("span", "", (who.name.match(/\p{L}/u) || ["?"])[0].toUpperCase()));
    row.appendChild(avatar);

    const body = el("div", "message-body");
    const meta = el("div", "message-meta");
    meta.appendChild(el("span", "author", who.name));
    if (who.app) meta.appendChild(el("span", "app-badge", "App"));
    const time = el("time", "message-time", clockTime(message.posted_at));
    time.dateTime = new Date(message.posted_at * 1000).toISOString();
    meta.appendChild(time);
    if (message.revision > 1) meta.appendChild(el("span", "edited", "(updated)"));
    body.appendChild(meta);

    const content = el("div", "message-content");
    if (message.kind === "command") {
      content.appendChild(el("span", "slash-command", message.text));
    } else if (Array.isArray(message.blocks) && message.blocks.length) {
      for (const block of message.blocks) content.appendChild(renderBlock(block, message));
    } else {
      renderMrkdwn(message.text || "", content);
    }
    body.appendChild(content);
    row.appendChild(body);
    node.appendChild(row);
    return node;
  }

  // ----- talking to the demo server -------------------------------------------------
  const state = { info: null, version: -1, nodes: new Map(), history: [], recall: -1, failures: 0 };

  async function postJson(url, payload) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    return response.json();
  }

  function nearBottom(list) {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function draw(messages, forceScroll) {
    const list = document.getElementById("messages");
    const stick = forceScroll || nearBottom(list);
    const seen = new Set();
    for (const message of messages) {
      seen.add(message.id);
      const known = state.nodes.get(message.id);
      if (known && known.revision === message.revision) continue;
      const node = renderMessage(message);
      if (known) {
        node.classList.add("just-updated");
        known.node.replaceWith(node);
      } else {
        list.appendChild(node);
      }
      state.nodes.set(message.id, { node, revision: message.revision });
    }
    for (const [id, known] of state.nodes) {
      if (!seen.has(id)) {
        known.node.remove();
        state.nodes.delete(id);
      }
    }
    document.getElementById("intro").hidden = messages.length > 0;
    if (stick) list.scrollTop = list.scrollHeight;
    showLinked();
  }

  // A permalink (#m<ts>) opens the page at that message, highlighted once.
  let linkedShown = "";
  function showLinked() {
    const target = location.hash.startsWith("#m") ? document.getElementById(location.hash.slice(1)) : null;
    if (!target || linkedShown === location.hash) return;
    linkedShown = location.hash;
    target.scrollIntoView({ block: "center" });
    target.classList.add("just-updated");
  }
  window.addEventListener("hashchange", showLinked);

  let scrollNext = false;

  async function refresh() {
    const response = await fetch("/demo/messages", { cache: "no-store" });
    const data = await response.json();
    if (data.version !== state.version) {
      draw(data.messages, scrollNext);
      scrollNext = false;
      state.version = data.version;
    }
  }

  async function pollForever() {
    try {
      await refresh();
      state.failures = 0;
      document.getElementById("connection").hidden = true;
    } catch (error) {
      state.failures += 1;
      document.getElementById("connection").hidden = state.failures < 2;
    }
    setTimeout(pollForever, state.failures ? Math.min(4000, POLL_MS * 2 ** state.failures) : POLL_MS);
  }

  async function clickButton(node, button, blockId, message) {
    if (button.url) {
      const href = safeHref(button.url);
      if (href) window.open(href, "_blank", "noopener,noreferrer");
    }
    node.disabled = true;
    node.classList.add("loading");
    try {
      await postJson("/demo/action", {
        message_id: message.id,
        action_id: button.action_id,
        block_id: blockId,
        value: button.value,
      });
      scrollNext = !message.ephemeral || button.action_id === "ota_share";
      await refresh();
    } catch (error) {
      console.error("click failed", error);
    } finally {
      node.disabled = false;
      node.classList.remove("loading");
    }
  }

  async function send(text) {
    if (!text.trim()) return;
    state.history.push(text);
    state.recall = -1;
    scrollNext = true;
    try {
      await postJson("/demo/command", { text });
      scrollNext = true;
      await refresh();
    } catch (error) {
      console.error("send failed", error);
    }
  }

  function setUpComposer() {
    const form = document.getElementById("composer-form");
    const input = document.getElementById("composer");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value;
      input.value = "";
      send(text);
    });
    input.addEventListener("keydown", (event) => {
      const history = state.history;
      if (!history.length) return;
      if (event.key === "ArrowUp" && (input.value === "" || state.recall >= 0)) {
        event.preventDefault();
        state.recall = state.recall < 0 ? history.length - 1 : Math.max(0, state.recall - 1);
        input.value = history[state.recall];
      } else if (event.key === "ArrowDown" && state.recall >= 0) {
        event.preventDefault();
        state.recall += 1;
        if (state.recall >= history.length) {
          state.recall = -1;
          input.value = "";
        } else {
          input.value = history[state.recall];
        }
      }
    });
    document.getElementById("clear").addEventListener("click", async () => {
      await postJson("/demo/clear", {});
      await refresh();
    });
    input.focus();
  }

  function showInfo(info) {
    state.info = info;
    for (const id of ["channel-name", "sidebar-channel", "intro-channel"]) {
      document.getElementById(id).textContent = info.channel_name;
    }
    document.getElementById("team-name").textContent = info.team_name;
    document.title = `otabot demo · #${info.channel_name}`;
    document.getElementById("composer").placeholder = `Message #${info.channel_name} — try ${info.command} help`;
    if (info.about) document.getElementById("about").textContent = info.about;
    const suggestions = document.getElementById("suggestions");
    suggestions.replaceChildren();
    if (info.examples.length) suggestions.appendChild(el("span", "suggestions-label", "Try"));
    for (const example of info.examples) {
      const chip = el("button", "chip", example);
      chip.type = "button";
      chip.addEventListener("click", () => {
        const input = document.getElementById("composer");
        input.value = example;
        input.focus();
      });
      suggestions.appendChild(chip);
    }
  }

  async function start() {
    setUpComposer();
    try {
      const response = await fetch("/demo/info", { cache: "no-store" });
      showInfo(await response.json());
    } catch (error) {
      console.error("could not load the workspace", error);
    }
    scrollNext = true;
    pollForever();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
