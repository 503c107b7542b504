// Shipline's page script, on top of htmx (no framework, no build step): keep a page's
// live region quiet while the server is away — htmx's SSE extension reconnects by itself.
document.addEventListener("htmx:sseError", (event) => event.preventDefault());
