// Diagrams a reviewer can read on the page (see docs/pagehtml.py for the markup).
//
// Each inline SVG starts at a legible scale: as wide as its box when that keeps its
// smallest text at least LEGIBLE_PX tall, larger (panned by dragging or scrolling) when
// it does not, never larger than its natural size. A toolbar zooms out and in, fits the
// picture to its box, and opens it over the whole window (Escape closes). Ctrl or Cmd
// with the mouse wheel zooms around the pointer. No network, no library.
(() => {
  "use strict";

  const LEGIBLE_PX = 9.5;
  const STEP = 1.25;
  const MIN_SCALE = 0.05;
  const MAX_SCALE = 4;

  // Width and height in CSS px at scale 1, and CSS px per SVG user unit.
  function naturalSize(svg) {
    const box = svg.viewBox.baseVal;
    const px = (value, fallback) => {
      const m = /^([\d.]+)(pt|px)?$/.exec(value || "");
      if (!m) return fallback;
      return parseFloat(m[1]) * (m[2] === "pt" ? 4 / 3 : 1);
    };
    const width = px(svg.getAttribute("width"), box.width);
    const height = px(svg.getAttribute("height"), box.height);
    return { width, height, unit: box.width ? width / box.width : 1 };
  }

  function smallestFont(svg) {
    let smallest = Infinity;
    for (const text of svg.querySelectorAll("text[font-size]")) {
      const size = parseFloat(text.getAttribute("font-size"));
      if (size > 0 && size < smallest) smallest = size;
    }
    return Number.isFinite(smallest) ? smallest : 14;
  }

  function bodyPx() {
    const body = document.querySelector(".md-typeset p") || document.body;
    return parseFloat(getComputedStyle(body).fontSize);
  }

  function nameFont(svg) {
    let largest = 0;
    for (const text of svg.querySelectorAll("g.node text[font-size]")) {
      largest = Math.max(largest, parseFloat(text.getAttribute("font-size")) || 0);
    }
    return largest || smallestFont(svg);
  }

  function button(label, title, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "sw-diagram__button";
    b.textContent = label;
    b.title = title;
    b.setAttribute("aria-label", title);
    b.dataset.action = action;
    return b;
  }

  function setup(figure) {
    if (figure.dataset.ready) return;
    figure.dataset.ready = "true";
    const view = figure.querySelector(".sw-diagram__view");
    const svg = view && view.querySelector("svg");
    if (!svg) return;
    const size = naturalSize(svg);
    // An overview (data-text="body") opens with its state names, the largest text of its
    // nodes, as large as the page's body text; any other diagram with its smallest text
    // LEGIBLE_PX tall.
    const legible = figure.dataset.text === "body"
      ? Math.min(1, bodyPx() / (nameFont(svg) * size.unit))
      : Math.min(1, LEGIBLE_PX / (smallestFont(svg) * size.unit));
    let scale = 1;
    let chosen = false; // the reader zoomed: keep their scale when the window resizes

    const bar = document.createElement("div");
    bar.className = "sw-diagram__bar";
    const percent = document.createElement("output");
    percent.className = "sw-diagram__scale";
    const full = button("Full screen", "Full screen (Esc closes)", "full");
    bar.append(
      button("−", "Zoom out", "out"),
      percent,
      button("+", "Zoom in", "in"),
      button("Fit", "Fit the whole diagram in view", "fit"),
      button("Reset", "Back to a readable size", "reset"),
      full,
    );
    figure.insertBefore(bar, view);

    function fit() {
      const style = getComputedStyle(view);
      const padX = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
      const padY = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
      const wide = (view.clientWidth - padX) / size.width;
      const open = figure.classList.contains("sw-diagram--full");
      const tall = open ? (view.clientHeight - padY) / size.height : Infinity;
      return Math.min(1, wide, tall);
    }

    // Zoom to `next`, keeping the point (x, y) of the view (default: its centre) still.
    function zoom(next, x, y) {
      next = Math.min(MAX_SCALE, Math.max(MIN_SCALE, next));
      const px = x === undefined ? view.clientWidth / 2 : x;
      const py = y === undefined ? view.clientHeight / 2 : y;
      const cx = (view.scrollLeft + px) / scale;
      const cy = (view.scrollTop + py) / scale;
      scale = next;
      svg.style.width = `${size.width * scale}px`;
      svg.style.height = `${size.height * scale}px`;
      view.scrollLeft = cx * scale - px;
      view.scrollTop = cy * scale - py;
      percent.textContent = `${Math.round(scale * 100)}%`;
      figure.dataset.scale = scale.toFixed(3);
    }

    // The legend and the findings are the graph's label, drawn at its top left: the text
    // Graphviz writes straight into the graph, outside any node, edge or stage. A reset
    // scrolls there, so a picture larger than its box opens with what its marks mean and
    // what is wrong in view; without a legend, it opens where the machine starts (the
    // first node Graphviz draws is the initial state's dot).
    function legendBox() {
      let left = Infinity, top = Infinity;
      for (const text of svg.querySelectorAll(":scope > g.graph > text")) {
        const r = text.getBoundingClientRect();
        left = Math.min(left, r.left);
        top = Math.min(top, r.top);
      }
      return Number.isFinite(left) ? { left, top, width: 0 } : null;
    }

    function showLegend() {
      const start = svg.querySelector("g.node");
      const target = legendBox() || (start && start.getBoundingClientRect());
      if (!target) return;
      const box = view.getBoundingClientRect();
      if (legendBox()) {
        view.scrollLeft += target.left - box.left - 8;
      } else {
        view.scrollLeft += target.left + target.width / 2 - (box.left + view.clientWidth / 2);
      }
      view.scrollTop += target.top - box.top - 8;
    }

    function reset() {
      chosen = false;
      zoom(Math.max(fit(), legible));
      showLegend();
    }

    function toggleFull(open) {
      figure.classList.toggle("sw-diagram--full", open);
      document.documentElement.classList.toggle("sw-diagram-open", open);
      full.textContent = open ? "Close" : "Full screen";
      full.title = open ? "Close full screen (Esc)" : "Full screen (Esc closes)";
      full.setAttribute("aria-label", full.title);
      full.setAttribute("aria-pressed", String(open));
      reset();
      if (open) view.focus();
    }

    bar.addEventListener("click", (event) => {
      const action = event.target.closest("button")?.dataset.action;
      if (action === "in") { chosen = true; zoom(scale * STEP); }
      if (action === "out") { chosen = true; zoom(scale / STEP); }
      if (action === "fit") { chosen = true; zoom(fit()); }
      if (action === "reset") reset();
      if (action === "full") toggleFull(!figure.classList.contains("sw-diagram--full"));
    });

    view.addEventListener("keydown", (event) => {
      if (event.key === "+" || event.key === "=") {
        chosen = true; zoom(scale * STEP);
      } else if (event.key === "-") {
        chosen = true; zoom(scale / STEP);
      } else if (event.key === "0") {
        reset();
      } else {
        return;
      }
      event.preventDefault();
    });

    view.addEventListener("wheel", (event) => {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      const rect = view.getBoundingClientRect();
      chosen = true;
      zoom(scale * (event.deltaY < 0 ? STEP : 1 / STEP), event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });

    // Drag with the mouse to pan (touch screens scroll natively).
    let drag = null;
    view.addEventListener("pointerdown", (event) => {
      if (event.pointerType !== "mouse" || event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, left: view.scrollLeft, top: view.scrollTop };
      view.setPointerCapture(event.pointerId);
      view.classList.add("sw-diagram__view--dragging");
    });
    view.addEventListener("pointermove", (event) => {
      if (!drag) return;
      view.scrollLeft = drag.left - (event.clientX - drag.x);
      view.scrollTop = drag.top - (event.clientY - drag.y);
    });
    const stop = () => {
      drag = null;
      view.classList.remove("sw-diagram__view--dragging");
    };
    view.addEventListener("pointerup", stop);
    view.addEventListener("pointercancel", stop);

    // A new window width re-chooses the scale, unless the reader chose one. (Watching the
    // figure, not the view, so that the view's own scrollbars cannot start a loop.)
    let width = figure.clientWidth;
    new ResizeObserver(() => {
      if (figure.clientWidth === width) return;
      width = figure.clientWidth;
      if (!chosen) reset();
    }).observe(figure);
    reset();
  }

  function setupAll() {
    document.querySelectorAll("figure.sw-diagram").forEach(setup);
  }

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = document.querySelector(".sw-diagram--full [data-action=full]");
    if (open) open.click();
  });

  if (window.document$) {
    window.document$.subscribe(setupAll);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setupAll);
  } else {
    setupAll();
  }
})();
