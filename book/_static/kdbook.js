// kd-wide: figures a reader can enlarge. Every image of the page's content opens full size in a
// new tab when tapped; an image much wider than tall (a figure of several panels) is marked
// kd-wide, which kdbook.css keeps readable on a narrow screen by letting it scroll sideways.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("article img").forEach((img) => {
    const box = img.closest("figure") || img.parentElement;
    const mark = () => {
      if (img.naturalWidth > 1.7 * img.naturalHeight) box.classList.add("kd-wide");
    };
    if (img.complete) mark(); else img.addEventListener("load", mark);
    if (img.closest("a")) return;  // already a link (the Figures page links the PNG itself)
    const link = document.createElement("a");
    link.href = img.currentSrc || img.src;
    link.target = "_blank";
    link.rel = "noopener";
    link.className = "kd-zoom";
    link.title = "Open the figure full size";
    img.replaceWith(link);
    link.appendChild(img);
  });
});
