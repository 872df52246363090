// Starts the NHS.UK design system's components and the sorting of tables on every page (loaded as a
// module by the page layout, not inline, so the Content-Security-Policy can forbid inline scripts).
import { initAll } from "/static/nhsuk/nhsuk-frontend.min.js";
import { initSortableTables } from "/static/sortable-tables.js";

initAll();
initSortableTables();
