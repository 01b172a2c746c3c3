/*
 * Colours of the map's points. Labels: twelve distinct colours for the commonest labels
 * (the server sends labels commonest first), then colours spread around the hue circle by
 * the golden angle, so neighbours in the legend never look alike; grey for no label.
 * Statuses: one fixed colour each, the ones a person still has to look at the loudest.
 */

const DISTINCT = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#bcbd22",
];
// Dimmer than any label colour: the unlabelled many recede, the labelled groups stand out.
export const UNLABELLED = "#434a57";

const STATUS = {
  uploaded: "#5b6678",
  processing: "#8a94a6",
  auto_tagged: "#4e79a7",
  needs_review: "#f28e2b",
  verified: "#59a14f",
  rejected: "#e15759",
  no_label: "#17becf",
  failed: "#b07aa1",
};

function hsl(h, s, l) {
  const a = s * Math.min(l, 1 - l);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(255 * c).toString(16).padStart(2, "0");
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

export function labelColour(index) {
  if (index < DISTINCT.length) return DISTINCT[index];
  return hsl((index * 137.508) % 360, 0.55, 0.58);
}

// One colour per label code, and the unlabelled colour last (its code is labels.length).
export function labelColours(count) {
  return [...Array.from({ length: count }, (_, i) => labelColour(i)), UNLABELLED];
}

export function statusColours(statuses) {
  return statuses.map((s) => STATUS[s.key] || UNLABELLED);
}
