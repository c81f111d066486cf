/* The demo site's shared chrome: navigation and footer (not part of the snippet). */
(function () {
  var pages = [["./", "Home"], ["features.html", "Features"], ["pricing.html", "Pricing"],
               ["blog/lead-scoring-that-explains-itself.html", "Blog"], ["careers.html", "Careers"],
               ["book-a-demo.html", "Book a demo"]];
  var root = document.body.getAttribute("data-root") || "";
  var nav = document.getElementById("nav");
  if (nav) {
    nav.innerHTML = '<a class="brand" href="' + root + './">&#9650; Skylark</a>' + pages.slice(1).map(function (p) {
      return '<a href="' + root + p[0] + '"' + (p[1] === "Book a demo" ? ' class="cta"' : "") + ">" + p[1] + "</a>";
    }).join("") + '<a class="leads" href="' + root + 'leads.html">Live leads &rarr;</a>';
  }
  var foot = document.getElementById("foot");
  if (foot) foot.textContent = "Skylark is a fictional product: this site exists to show leadscore scoring your visit.";
})();
