/*
 * The legend beside the map: one row per colour with its name and how many points carry it.
 * Clicking a row selects those points (then lasso-label them, or Esc).
 */

export function renderLegend(list, entries, onPick) {
  list.replaceChildren(
    ...entries
      .filter((entry) => entry.count > 0)
      .map((entry) => {
        const item = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.setProperty("--c", entry.colour);
        const name = document.createElement("button");
        name.type = "button";
        name.className = "link";
        name.textContent = entry.name;
        name.title = `Select the ${entry.count} points of ${entry.name}`;
        name.addEventListener("click", () => onPick(entry.code));
        const n = document.createElement("span");
        n.className = "n";
        n.textContent = entry.count.toLocaleString();
        item.append(swatch, name, n);
        return item;
      }),
  );
}
