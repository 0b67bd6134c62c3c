// The book's own script (registered in _config.yml, sphinx.config.html_js_files).
//
// Glued prose: myst-nb shows every {glue:text} value in bold. A glued value that is a whole
// sentence (not just a number) is marked "cocoop-glued-sentence" (book.css sets it in normal
// weight) and the numbers inside it are wrapped in <strong>, so only the numbers stand out.
document.addEventListener("DOMContentLoaded", () => {
  const number = /[+\u2212-]?\d[\d,]*(?:\.\d+)?%?/g;
  const justNumber = /^\s*[+\u2212-]?\d[\d,]*(?:\.\d+)?%?\s*$/;
  for (const span of document.querySelectorAll("span.pasted-text")) {
    const text = span.textContent;
    if (justNumber.test(text) || !/[A-Za-z]{2}/.test(text)) continue;
    span.classList.add("cocoop-glued-sentence");
    const parts = [];
    let last = 0;
    for (const m of text.matchAll(number)) {
      // a digit inside a word (MiniEmojiNetA, ViT-B/16, 32x32) is part of a name, not a number
      const before = text[m.index - 1] || " ";
      const after = text[m.index + m[0].length] || " ";
      if (/[A-Za-z_\/]/.test(before) || /[A-Za-z_\/]/.test(after)) continue;
      parts.push(document.createTextNode(text.slice(last, m.index)));
      const strong = document.createElement("strong");
      strong.textContent = m[0];
      parts.push(strong);
      last = m.index + m[0].length;
    }
    parts.push(document.createTextNode(text.slice(last)));
    span.replaceChildren(...parts);
  }
});
