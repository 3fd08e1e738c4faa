// Progressive enhancement for Mayfly's pages: everything works without this file.
// - An environment's page follows its timeline and status over server-sent events and, when
//   the status changes, refreshes its summary, actions and services from the page itself.
// - The template picker of the new-environment form submits when changed.
(function () {
  'use strict';
  var pick = document.querySelector('select[data-autosubmit]');
  if (pick) pick.addEventListener('change', function () { pick.form.submit(); });

  var root = document.querySelector('[data-live]');
  if (!root || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var timeline = document.getElementById('timeline');
  var status = root.getAttribute('data-status');
  var source = new EventSource(root.getAttribute('data-live'));
  var refreshing = false;

  function refresh() {
    if (refreshing) return;
    refreshing = true;
    fetch(location.pathname, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        document.querySelectorAll('[data-refresh]').forEach(function (el) {
          var fresh = doc.querySelector('[data-refresh="' + el.getAttribute('data-refresh') + '"]');
          // Keep the element carrying data-live (it holds the stream); replace its contents.
          if (fresh && el === root) el.innerHTML = fresh.innerHTML;
          else if (fresh) el.replaceWith(document.importNode(fresh, true));
        });
      })
      .catch(function () { /* the next status change tries again */ })
      .then(function () { refreshing = false; });
  }

  source.onmessage = function (msg) {
    var e = JSON.parse(msg.data);
    if (timeline.querySelector('[data-event-id="' + e.id + '"]')) return;
    var li = document.createElement('li');
    li.setAttribute('data-event-id', String(e.id));
    var time = document.createElement('time');
    time.setAttribute('datetime', e.at);
    time.textContent = e.at;
    var type = document.createElement('span');
    type.className = 'etype';
    type.textContent = e.type;
    li.append(time, ' ', type, ' ', e.message);
    timeline.appendChild(li);
  };
  source.addEventListener('environment', function (msg) {
    var env = JSON.parse(msg.data);
    if (env.status !== status) {
      status = env.status;
      root.setAttribute('data-status', status);
      refresh();
    }
  });
  source.addEventListener('end', function () {
    source.close();
    var note = document.getElementById('live-note');
    if (note) note.textContent = 'This environment is destroyed.';
    refresh();
  });
})();
