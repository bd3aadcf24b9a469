// govtrack dashboard behaviour that is not htmx's, kept in a file: the Content-Security-Policy runs no inline script.

// A <select data-submit-on-change> submits its form when changed (the organization switcher); without JavaScript
// the form's own button does the same.
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-submit-on-change]");
  if (field && field.form) {
    field.form.requestSubmit();
  }
});
