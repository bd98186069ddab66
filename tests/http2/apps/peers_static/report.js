// Once the page and its resources have loaded, and the JSON handler has
// answered, sends the protocol each of them came over (Resource Timing's
// nextHopProtocol) to /report.
"use strict";

window.addEventListener("load", async () => {
  const response = await fetch("/items/3000.json");
  const data = await response.json();
  const entries = performance
    .getEntries()
    .filter((e) => e.entryType === "navigation" || e.entryType === "resource")
    .map((e) => ({ name: e.name, type: e.entryType, protocol: e.nextHopProtocol }));
  await fetch("/report", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ items: data.items.length, entries: entries }),
  });
});
