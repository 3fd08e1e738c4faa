// Progressive enhancement for Mayfly's pages: everything works without this file.
// - An environment's page follows its timeline and status over server-sent events and, when
//   the status changes, refreshes its summary, actions and services from the page itself.
// - Repeated progress lines are grouped as they arrive, as the server groups them.
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

  // Repeated progress lines of one step fold into one row ("pull progress x37"), as the server renders them.
  function member(e) {
    var li = document.createElement('li');
    li.setAttribute('data-event-id', String(e.id));
    var time = document.createElement('time');
    time.setAttribute('datetime', e.at);
    time.textContent = e.at;
    li.append(time, ' ', e.message);
    return li;
  }

  function row(e, key) {
    var li = document.createElement('li');
    li.setAttribute('data-event-id', String(e.id));
    if (key) li.setAttribute('data-key', key);
    var time = document.createElement('time');
    time.setAttribute('datetime', e.at);
    time.textContent = e.at;
    var type = document.createElement('span');
    type.className = 'etype';
    type.textContent = e.type;
    var m = document.createElement('span');
    m.className = 'emsg';
    m.textContent = e.message;
    li.append(time, ' ', type, ' ', m);
    return li;
  }

  /** A group row of progress lines of one step, from a lone row already shown and the new line. */
  function group(key, first, e) {
    var step = key.slice('progress:'.length);
    var text = (step ? step + ' ' : '') + 'progress';
    var li = document.createElement('li');
    li.className = 'group';
    li.setAttribute('data-group', key);
    li.setAttribute('data-count', '2');
    li.setAttribute('data-label', text);
    var time = document.createElement('time');
    time.setAttribute('datetime', e.at);
    time.textContent = e.at;
    var type = document.createElement('span');
    type.className = 'etype';
    var c = document.createElement('span');
    c.className = 'count';
    c.textContent = '\u00d72';
    type.append(text + ' ', c);
    var m = document.createElement('span');
    m.className = 'emsg';
    m.textContent = e.message;
    var details = document.createElement('details');
    var summary = document.createElement('summary');
    summary.textContent = 'the 2 ' + text + ' lines';
    var members = document.createElement('ol');
    members.className = 'members';
    var earlier = document.createElement('li');
    earlier.setAttribute('data-event-id', first.getAttribute('data-event-id'));
    earlier.append(first.querySelector('time').cloneNode(true), ' ', first.querySelector('.emsg').textContent);
    members.append(earlier, member(e));
    details.append(summary, members);
    li.append(time, ' ', type, ' ', m, details);
    return li;
  }

  source.onmessage = function (msg) {
    var e = JSON.parse(msg.data);
    if (timeline.querySelector('[data-event-id="' + e.id + '"]')) return;
    var key = e.type === 'progress' ? 'progress:' + (e.data && typeof e.data.step === 'string' ? e.data.step : '') : null;
    var last = timeline.lastElementChild;
    if (key && last && last.getAttribute('data-group') === key) {
      var count = Number(last.getAttribute('data-count') || '1') + 1;
      last.setAttribute('data-count', String(count));
      last.querySelector('.count').textContent = '\u00d7' + count;
      var t = last.querySelector('time');
      t.setAttribute('datetime', e.at);
      t.textContent = e.at;
      last.querySelector('.emsg').textContent = e.message;
      last.querySelector('summary').textContent = 'the ' + count + ' ' + (last.getAttribute('data-label') || '') + ' lines';
      last.querySelector('ol.members').appendChild(member(e));
    } else if (key && last && last.getAttribute('data-key') === key) {
      last.replaceWith(group(key, last, e));
    } else {
      timeline.appendChild(row(e, key));
    }
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
