/*
 * The taxonomy editor's tree: "/" jumps to the search box, typing filters the labels (by
 * name, path, key or the client's name), ↑ and ↓ move between the labels shown, Enter opens
 * one (a plain link, so the page works without JavaScript).
 */
{
  var search = document.getElementById("label-search");
  var tree = document.getElementById("label-tree");
  var none = document.getElementById("search-none");

  function visibleLinks() {
    return Array.from(tree.querySelectorAll("li:not([hidden]) a"));
  }

  function filter() {
    var words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    tree.querySelectorAll("li[data-search]").forEach(function (item) {
      var text = item.dataset.search;
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      item.hidden = !match;
      if (match) shown += 1;
    });
    none.hidden = shown > 0;
  }

  function move(from, step) {
    var links = visibleLinks();
    if (!links.length) return;
    var at = links.indexOf(from);
    var next = at === -1 ? (step > 0 ? 0 : links.length - 1) : at + step;
    links[Math.max(0, Math.min(links.length - 1, next))].focus();
  }

  if (search && tree) {
    search.addEventListener("input", filter);
    search.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); move(null, 1); }
      if (event.key === "Escape") { search.value = ""; filter(); }
      if (event.key === "Enter") {
        event.preventDefault();
        var first = visibleLinks()[0];
        if (first) first.click();
      }
    });
    tree.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); move(document.activeElement, 1); }
      if (event.key === "ArrowUp") {
        event.preventDefault();
        if (visibleLinks()[0] === document.activeElement) search.focus();
        else move(document.activeElement, -1);
      }
    });
    document.addEventListener("keydown", function (event) {
      var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
      if (event.key === "/" && !typing) { event.preventDefault(); search.focus(); }
    });
    var current = tree.querySelector("a[aria-current]");
    if (current) current.scrollIntoView({ block: "nearest" });
  }
}
