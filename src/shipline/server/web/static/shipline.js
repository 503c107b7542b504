// Shipline's page script, on top of htmx (no framework, no build step): keep a page's
// live region quiet while the server is away — htmx's SSE extension reconnects by itself.
document.addEventListener("htmx:sseError", (event) => event.preventDefault());

// Forms that do something hard to undo ask first. The question is in `data-confirm`, plain
// text escaped by the template, never JavaScript built from names (a step or environment
// name comes from a pipeline file anyone with push access writes).
document.addEventListener("submit", (event) => {
  const question = event.target.closest("form[data-confirm]")?.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
