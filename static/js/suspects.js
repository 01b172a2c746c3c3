/*
 * The suspect-labels queue: one list, one current item, three decisions by key or button.
 * A decided item leaves the list; the server's refusal is shown as it gives it.
 */
import { postJSON, UNREACHABLE } from "./lib/request.js";

const config = JSON.parse(document.getElementById("suspects-config").textContent);
const list = document.getElementById("suspects-list");
const toast = document.getElementById("suspects-toast");
const left = document.getElementById("suspects-left");
const done = document.getElementById("suspects-done");
const empty = document.getElementById("suspects-empty");
const root = document.getElementById("suspects");
let current = 0;
let decided = 0;
let pending = 0;

function setPending(delta) {
  pending += delta;
  root.dataset.pending = String(pending);
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function render(item) {
  const li = el("li", { class: "suspect", "data-id": item.id, tabindex: "-1" });
  const link = el("a", { href: item.detail });
  link.append(el("img", { src: item.thumbnail, alt: `Image ${item.image}`, loading: "lazy" }));
  li.append(link);
  const body = el("div", { class: "suspect-body" });
  body.append(el("p", { class: "suspect-label" }, `#${item.rank} · labelled ${item.labelName}`));
  const reasons = el("ul", { class: "suspect-reasons" });
  for (const reason of item.reasons) reasons.append(el("li", {}, reason));
  body.append(reasons);
  const select = el("select", { "aria-label": "New label", "data-role": "label" });
  for (const label of config.labels) {
    if (label.id === item.label) continue;
    const option = el("option", { value: label.id }, label.path);
    if (label.id === item.suggested) option.selected = true;
    select.append(option);
  }
  const actions = el("div", { class: "review-actions" });
  actions.append(
    button("keep", "Keep", "1"),
    select,
    button("relabel", "Relabel", "2"),
    button("exclude", "Exclude from training", "3"),
  );
  body.append(actions);
  li.append(body);
  li.addEventListener("click", (event) => {
    select_(Array.from(list.children).indexOf(li));
    const action = event.target.closest("button")?.dataset.action;
    if (action) decide(li, action);
  });
  return li;
}

function button(action, text, key) {
  const node = el("button", { type: "button", "data-action": action }, `${text} `);
  node.append(el("kbd", {}, key));
  return node;
}

function select_(index) {
  const items = list.children;
  if (!items.length) return;
  current = Math.max(0, Math.min(index, items.length - 1));
  Array.from(items).forEach((node, i) => node.setAttribute("aria-current", String(i === current)));
  items[current].focus({ preventScroll: false });
}

async function decide(li, decision) {
  const item = config.items.find((x) => String(x.id) === li.dataset.id);
  const label = decision === "relabel" ? li.querySelector("[data-role=label]").value : null;
  if (li.dataset.sending) return;
  li.dataset.sending = "1";
  setPending(1);
  let answer;
  try {
    answer = await postJSON(item.decide, { decision, label }, config.csrfToken);
  } catch (error) {
    toast.textContent = error.message || UNREACHABLE;
    delete li.dataset.sending;
    setPending(-1);
    return;
  }
  setPending(-1);
  if (!answer.ok) {
    toast.textContent = answer.data.detail || `Refused (${answer.status}).`;
    delete li.dataset.sending;
    if (answer.status !== 409) return;
  } else {
    toast.textContent = `Image ${item.image}: ${decision}.`;
  }
  li.remove();
  decided += 1;
  done.textContent = String(decided);
  left.textContent = String(list.children.length);
  empty.hidden = list.children.length > 0;
  select_(current);
}

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "SELECT" && !["1", "2", "3"].includes(event.key)) return;
  const li = list.children[current];
  if (event.key === "ArrowDown" || event.key === "j") select_(current + 1);
  else if (event.key === "ArrowUp") select_(current - 1);
  else if (li && event.key === "1") decide(li, "keep");
  else if (li && event.key === "2") decide(li, "relabel");
  else if (li && event.key === "3") decide(li, "exclude");
  else return;
  event.preventDefault();
});

for (const item of config.items) list.append(render(item));
select_(0);
