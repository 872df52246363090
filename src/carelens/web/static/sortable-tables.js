// Sorting in the browser for tables marked `data-sortable` (every row of the table is on the page).
// Progressive enhancement: without scripts a table is as the server sent it, and a heading that links
// to the server's own sort keeps that link. With scripts each sortable heading (`th[data-sort]`, in the
// NHS.UK table's markup, so the design system draws its arrows) becomes a button: pressing it sorts the
// rows by that column, ascending first and then the other way, sets `aria-sort` on its heading and
// says what was done in a visually hidden status message.
//
// A cell sorts by its `data-sort-value` (the raw number or ISO date that "2.7%", "£11.3 million" or
// "18 December 2019" stands for) or else by its text. Empty values and cells without a figure ("–",
// "suppressed") stay last whichever the order, as on the server, so no order reveals a hidden figure.

const EMPTY = new Set(["", "–", "-", "suppressed"]);
const collator = new Intl.Collator("en-GB", { numeric: true, sensitivity: "base" });

function cellText(cell) {
  // The cell's own text, without the column name the responsive table repeats in each cell.
  let text = "";
  for (const node of cell.childNodes) {
    if (!(node instanceof Element && node.classList.contains("nhsuk-table__heading"))) {
      text += node.textContent;
    }
  }
  return text.trim();
}

function sortKey(cell) {
  // null (last), a number, or text.
  if (!cell) return null;
  const raw = cell.hasAttribute("data-sort-value") ? cell.getAttribute("data-sort-value").trim() : cellText(cell);
  if (EMPTY.has(raw.toLowerCase())) return null;
  if (cell.hasAttribute("data-sort-value") && raw !== "" && Number.isFinite(Number(raw))) return Number(raw);
  return raw;
}

function compare(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return collator.compare(String(a), String(b));
}

function sortBy(table, header, direction, status) {
  const headers = Array.from(table.tHead.rows[0].cells);
  const column = headers.indexOf(header);
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).map((row, position) => ({ row, position, key: sortKey(row.cells[column]) }));
  const sign = direction === "ascending" ? 1 : -1;
  rows.sort((a, b) => {
    if (a.key === null || b.key === null) {
      return a.key === b.key ? a.position - b.position : a.key === null ? 1 : -1;
    }
    return sign * compare(a.key, b.key) || a.position - b.position;
  });
  for (const { row } of rows) body.appendChild(row);
  for (const other of headers) {
    if (other === header) continue;
    other.removeAttribute("aria-sort");
    other.querySelector("button")?.removeAttribute("aria-pressed");
  }
  header.setAttribute("aria-sort", direction);
  header.querySelector("button")?.setAttribute("aria-pressed", "true");
  status.textContent = `Sorted by ${header.textContent.trim()} (${direction})`;
}

function enhance(table) {
  if (!table.tHead || !table.tBodies.length) return;
  const status = document.createElement("div");
  status.className = "nhsuk-u-visually-hidden";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  status.setAttribute("aria-atomic", "true");
  table.insertAdjacentElement("beforebegin", status);
  for (const header of table.tHead.rows[0].cells) {
    if (!header.hasAttribute("data-sort")) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "nhsuk-link";
    button.textContent = header.textContent.trim();
    header.replaceChildren(button);
    button.addEventListener("click", () => {
      const next = header.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
      sortBy(table, header, next, status);
    });
  }
}

export function initSortableTables(scope = document) {
  for (const table of scope.querySelectorAll("table[data-sortable]")) enhance(table);
}
