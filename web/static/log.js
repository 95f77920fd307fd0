// Live log: follow a running step's log through server-sent events.
(function () {
  var pre = document.getElementById("log");
  if (!pre || !pre.dataset.stream || !window.EventSource) { return; }
  pre.textContent = "";
  var es = new EventSource(pre.dataset.stream);
  var status = document.getElementById("log-status");
  es.onmessage = function (ev) {
    var atEnd = window.innerHeight + window.scrollY >= document.body.offsetHeight - 40;
    pre.appendChild(document.createTextNode(ev.data + "\n"));
    if (atEnd) { window.scrollTo(0, document.body.scrollHeight); }
  };
  es.addEventListener("end", function () {
    es.close();
    if (status) { status.textContent = "The step has finished."; }
  });
})();
