// govtrack dashboard behaviour that is not htmx's, kept in a file: the Content-Security-Policy runs no inline script.

// A <select data-submit-on-change> submits its form when changed (the organization switcher); without JavaScript
// the form's own button does the same.
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-submit-on-change]");
  if (field && field.form) {
    field.form.requestSubmit();
  }
});

// A form answered with its errors is shown at the address it was posted to; put the page's own address back.
document.addEventListener("DOMContentLoaded", () => {
  const main = document.querySelector("main[data-canonical-url]");
  if (main && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", main.dataset.canonicalUrl + window.location.hash);
  }
});

// A link to a folded control (#assessment-…, e.g. after uploading its evidence) opens it.
document.addEventListener("DOMContentLoaded", () => {
  const target = window.location.hash && document.getElementById(window.location.hash.slice(1));
  if (target && target.tagName === "DETAILS") {
    target.open = true;
    target.scrollIntoView();
  }
});
