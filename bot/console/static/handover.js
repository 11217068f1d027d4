// The handover page's live transcript: asks for the patient's new messages every 2 s and appends them
// (textContent only: a patient's text is never parsed as HTML). Stops when the handover is closed.
(function () {
  "use strict";
  var list = document.getElementById("live");
  if (!list || list.dataset.status === "closed") { return; }
  var after = Number(list.dataset.after) || 0;
  var timer = null;

  function add(message) {
    var item = document.createElement("li");
    item.className = "msg " + (message.direction === "in" ? "in" : "out") + (message.kind === "staff" ? " staff" : "");
    item.dataset.id = String(message.id);
    var meta = document.createElement("div");
    meta.className = "meta";
    var who = message.kind === "staff" ? list.dataset.labelStaff
      : (message.direction === "in" ? list.dataset.labelIn : list.dataset.labelOut);
    meta.textContent = who + " · " + message.kind + " · " + message.at;
    item.appendChild(meta);
    if (message.photo) {
      var photo = "/patients/" + encodeURIComponent(list.dataset.patient) + "/photos/" +
        encodeURIComponent(message.photo);
      var link = document.createElement("a");
      link.href = photo + "/view";
      var image = document.createElement("img");
      image.className = "thumb";
      image.alt = list.dataset.labelPhoto;
      image.src = photo + "?size=thumb";
      link.appendChild(image);
      item.appendChild(link);
    }
    if (message.text) {
      var text = document.createElement("div");
      var choice = message.kind === "choice";  // "c:yes": the option's data, shown as a tap
      text.className = choice ? "text tap" : "text";
      text.textContent = choice ? "\u25b8 " + message.text.slice(message.text.indexOf(":") + 1) : message.text;
      item.appendChild(text);
    }
    list.appendChild(item);
    after = Math.max(after, message.id);
  }

  function closed() {
    window.clearInterval(timer);
    var note = document.getElementById("live-note");
    if (note) { note.textContent = list.dataset.closed; note.className = "notice error"; }
    var form = document.getElementById("reply");
    if (form) { form.hidden = true; }
  }

  function poll() {
    fetch(list.dataset.feed + "?after=" + after, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        body.messages.forEach(function (message) { if (message.id > after) { add(message); } });
        if (body.status === "closed") { closed(); }
      })
      .catch(function () { /* the next poll tries again */ });
  }

  timer = window.setInterval(poll, 2000);
}());
