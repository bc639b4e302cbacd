// Render the math that pymdownx.arithmatex (generic mode) leaves as \( \) and \[ \], with the
// KaTeX copy in assets/katex, on the first load and after each of Material's instant page loads.
// A formula KaTeX cannot parse is logged to the console, which the browser check fails on.
document$.subscribe(function () {
  document.querySelectorAll(".arithmatex").forEach(function (el) {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
      errorCallback: function (msg, err) { console.error("KaTeX: " + msg, err); },
    });
  });
});
