// Parley Preview: a chat with the bot, "Set Custom Attributes", the live
// user context, each turn's trace and the scenario status. Plain browser
// JavaScript, no build step, no third-party code. It talks to the server with
// the HTTP API of `parley serve`:
//
//   POST /incoming/webchat          a turn (OpenDialog webchat JSON)
//   GET  /api/users/{id}/context    the user's contexts
//   POST /api/users/{id}/context    set a custom attribute {"key","text"} or {"key","value"}
//   GET  /api/users/{id}/traces     the user's last turn traces
//   GET  /api/scenarios             version, scenarios, last reload, diagnostics
//   GET  /api/events?user=ID        server-sent events: the scenario status and the
//                                   user's contexts and traces, pushed as they change
//
// The event stream is read with fetch (EventSource cannot send the key), and
// is opened again after a failure; while it is down, the page reads the
// context and traces after each turn instead.
//
// The admin key comes from the URL fragment (#key=...) or the key form of the
// page, is kept in sessionStorage (this tab only) and is sent as
// "Authorization: Bearer KEY". All data shown comes from the server and is
// inserted as text, never as HTML. Every time is shown as HH:MM:SS, local time.
(function () {
  'use strict';

  var KEY_STORAGE = 'parley.preview.adminKey';
  var USER_STORAGE = 'parley.preview.userId';
  var DEFAULT_USER = 'preview-user';
  var STREAM_RETRY_MS = 2000;
  var MAX_ERRORS = 20;
  var RESTART_INTENT = 'intent.core.restart';

  function $(id) { return document.getElementById(id); }

  // el builds an element: el('div', {class: 'x', 'data-a': 'b'}, child, 'text', ...).
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var v = attrs[name];
        if (v === undefined || v === null || v === false) return;
        if (name === 'class') node.className = v;
        else if (name === 'text') node.textContent = v;
        else if (name.slice(0, 2) === 'on' && typeof v === 'function') node.addEventListener(name.slice(2), v);
        else node.setAttribute(name, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  // ---------------------------------------------------------------- storage

  var memoryStore = {};
  var store = {
    get: function (k) {
      try { return window.sessionStorage.getItem(k); } catch (e) { return k in memoryStore ? memoryStore[k] : null; }
    },
    set: function (k, v) {
      try { window.sessionStorage.setItem(k, v); } catch (e) { memoryStore[k] = v; }
    },
    remove: function (k) {
      try { window.sessionStorage.removeItem(k); } catch (e) { /* storage disabled */ }
      delete memoryStore[k];
    }
  };

  // -------------------------------------------------------------- admin key

  var adminKey = null;

  function setKey(k) {
    adminKey = k ? k : null;
    if (adminKey) store.set(KEY_STORAGE, adminKey); else store.remove(KEY_STORAGE);
    var b = $('admin-key');
    b.textContent = adminKey ? 'Admin key: set' : 'Admin key: none';
    b.classList.toggle('key-set', !!adminKey);
  }

  // readKeyFromFragment takes key=... from the URL fragment, stores it and
  // removes it from the address bar so it does not linger in the history.
  function readKeyFromFragment() {
    var h = window.location.hash.replace(/^#/, '');
    if (!h) return;
    var rest = [];
    var found = null;
    h.split('&').forEach(function (part) {
      if (part.slice(0, 4) === 'key=') {
        try { found = decodeURIComponent(part.slice(4)); } catch (e) { found = part.slice(4); }
      } else if (part) {
        rest.push(part);
      }
    });
    if (found === null) return;
    setKey(found);
    var url = window.location.pathname + window.location.search + (rest.length ? '#' + rest.join('&') : '');
    try { window.history.replaceState(null, '', url); } catch (e) { /* keep the fragment */ }
  }

  // showKeyForm opens the key form of the page, saying why when the server asked.
  function showKeyForm(reason) {
    var form = $('key-form');
    $('key-reason').textContent = reason || '';
    $('key-reason').hidden = !reason;
    form.hidden = false;
    $('key-input').value = '';
    $('key-input').focus();
  }

  function hideKeyForm() { $('key-form').hidden = true; }

  // ------------------------------------------------------------------- HTTP

  function APIError(message, status, code) {
    this.name = 'APIError';
    this.message = message;
    this.status = status;
    this.code = code;
  }
  APIError.prototype = Object.create(Error.prototype);
  APIError.prototype.constructor = APIError;

  // request sends a JSON request and returns the decoded JSON answer. Every
  // failure (network, HTTP status, invalid JSON) is thrown as an APIError
  // whose message says what was attempted and what went wrong, using the
  // server's {"error":{"code","message"}} body when there is one. A 401
  // opens the key form (or retries, when the key changed meanwhile).
  function request(method, path, body) {
    var usedKey = adminKey;
    var headers = { 'Accept': 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (usedKey) headers['Authorization'] = 'Bearer ' + usedKey;
    var what = method + ' ' + path;
    return fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin'
    }).catch(function (err) {
      throw new APIError(what + ': could not reach the server (' + (err && err.message ? err.message : err) + ')', 0, 'network');
    }).then(function (res) {
      return res.text().catch(function (err) {
        throw new APIError(what + ': reading the answer failed (' + (err && err.message ? err.message : err) + ')', res.status, 'network');
      }).then(function (text) {
        var data = null;
        var parsed = false;
        if (text) {
          try { data = JSON.parse(text); parsed = true; } catch (e) { parsed = false; }
        }
        if (res.ok) {
          if (text && !parsed) {
            throw new APIError(what + ': the server answered ' + res.status + ' with something that is not JSON', res.status, 'invalid_response');
          }
          return data;
        }
        if (res.status === 401) {
          if (adminKey !== usedKey) return request(method, path, body);
          showKeyForm(usedKey ? 'The server refused this admin key (' + what + ' answered 401).' : 'The server asks for an admin key (' + what + ' answered 401).');
        }
        var e = data && data.error;
        var msg;
        if (e && e.message) msg = (e.code ? e.code + ': ' : '') + e.message;
        else if (text) msg = text.length > 300 ? text.slice(0, 300) + '…' : text;
        else msg = res.statusText || 'no details';
        throw new APIError(what + ' → ' + res.status + ' ' + msg, res.status, e && e.code);
      });
    });
  }

  function userPath(uid, rest) { return '/api/users/' + encodeURIComponent(uid) + rest; }

  // ----------------------------------------------------------------- errors

  function reportError(err) {
    var msg = err && err.message ? err.message : String(err);
    if (window.console) console.error('parley preview:', err);
    var list = $('error-list');
    var item = el('li', null,
      el('time', { class: 'muted small', 'data-testid': 'time' }, clock(new Date())), ' ',
      el('span', { class: 'error-text' }, msg), ' ',
      el('button', {
        type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': 'Dismiss',
        onclick: function () { item.remove(); if (!list.children.length) $('errors').hidden = true; }
      }, '×'));
    list.append(item);
    while (list.children.length > MAX_ERRORS) list.firstElementChild.remove();
    $('errors').hidden = false;
  }

  // -------------------------------------------------------------- formatting

  function formatDuration(ns) {
    if (typeof ns !== 'number' || !isFinite(ns)) return '–';
    if (ns < 1e3) return ns + ' ns';
    if (ns < 1e6) return (ns / 1e3).toFixed(0) + ' µs';
    if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : 1) + ' ms';
    return (ns / 1e9).toFixed(2) + ' s';
  }

  function two(n) { return (n < 10 ? '0' : '') + n; }

  // clock is the one time format of the page: HH:MM:SS, local time.
  function clock(d) { return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds()); }

  function formatTime(t) {
    if (!t) return '';
    var d = new Date(t);
    if (isNaN(d.getTime()) || d.getFullYear() < 2) return '';
    return clock(d);
  }

  function shortVersion(v) { return v && v.length > 12 ? v.slice(0, 12) : (v || '–'); }

  function pretty(v) {
    if (typeof v === 'string') return v;
    try { return JSON.stringify(v, null, 2); } catch (e) { return String(v); }
  }

  // valueNode renders a context or trace value with its type visible.
  function valueNode(v) {
    if (v === null || v === undefined) return el('span', { class: 'v v-null' }, v === null ? 'null' : 'unset');
    switch (typeof v) {
      case 'string': return el('span', { class: 'v v-str' }, JSON.stringify(v));
      case 'number': return el('span', { class: 'v v-num' }, String(v));
      case 'boolean': return el('span', { class: 'v v-bool' }, String(v));
      default: return el('pre', { class: 'v v-json' }, pretty(v));
    }
  }

  function same(a, b) {
    try { return JSON.stringify(a) === JSON.stringify(b); } catch (e) { return false; }
  }

  // kvTable renders an object as a two-column table, highlighting keys whose
  // value differs from prev (when prev is given).
  function kvTable(obj, prev, emptyText) {
    var keys = obj && typeof obj === 'object' ? Object.keys(obj).sort() : [];
    if (!keys.length) return el('p', { class: 'muted small empty' }, emptyText || 'empty');
    var tbody = el('tbody');
    keys.forEach(function (k) {
      var changed = prev && !same(prev[k], obj[k]);
      tbody.append(el('tr', { 'data-key': k, class: changed ? 'changed' : null },
        el('th', { scope: 'row' }, k), el('td', null, valueNode(obj[k]))));
    });
    return el('table', { class: 'kv-table' }, tbody);
  }

  function badge(text, kind) { return el('span', { class: 'badge badge-' + (kind || 'neutral') }, text); }

  // --------------------------------------------------------------- contexts

  var lastContexts = null;

  function renderContexts(c, uid) {
    var prev = lastContexts && lastContexts.uid === uid ? lastContexts.c : null;
    [['user', 'context-user'], ['session', 'context-session'],
      ['conversation', 'context-conversation'], ['global', 'context-global']].forEach(function (p) {
      $(p[1]).replaceChildren(kvTable(c[p[0]], prev ? (prev[p[0]] || {}) : null, 'No attributes.'));
    });
    lastContexts = { uid: uid, c: c };
    $('context-updated').textContent = 'updated ' + clock(new Date());
  }

  // renderNewUser shows the empty panels of a user the engine has never seen.
  function renderNewUser(uid) {
    renderContexts({ user: {}, session: {}, conversation: {}, global: {} }, uid);
    $('context-updated').textContent = 'new user: no state yet';
  }

  function refreshContext() {
    var uid = currentUser();
    if (!uid) return Promise.resolve();
    return request('GET', userPath(uid, '/context'), undefined).then(function (c) {
      if (uid !== currentUser()) return;
      if (!c || typeof c !== 'object') throw new APIError('GET ' + userPath(uid, '/context') + ': the answer is not a JSON object', 200, 'invalid_response');
      renderContexts(c, uid);
    }).catch(function (err) {
      if (uid !== currentUser()) return;
      if (err.status === 404) {
        renderNewUser(uid); // a user the engine has never seen: nothing to show yet
        return;
      }
      $('context-updated').textContent = 'not updated: see Problems';
      reportError(err);
    });
  }

  // ----------------------------------------------------------------- traces

  var traceOpen = {};
  var olderOpen = false;

  // traceKey identifies a turn across renderings (its index shifts once the
  // server's ring of traces is full).
  function traceKey(t, i) { return t.time ? t.time + '|' + (t.config_version || '') : 'i' + i; }

  function positionText(p) {
    if (!p || !p.conversation) return 'not in a conversation';
    var parts = [p.scenario, p.conversation, p.scene, p.turn].filter(Boolean).join(' / ');
    if (p.intent) parts += ' · ' + p.intent;
    if (p.phase) parts += ' (' + p.phase + ')';
    return parts;
  }

  function utteranceText(u) {
    if (!u) return '?';
    switch (u.type) {
      case 'text': return 'text “' + (u.text || '') + '”';
      case 'button_response': return 'button ' + (u.callback_id || '?') + (u.value ? ' = ' + u.value : '');
      case 'trigger': return 'trigger ' + (u.callback_id || '');
      default: return u.type || '?';
    }
  }

  function outcomeKind(o) {
    switch (o) {
      case 'chosen': return 'ok';
      case 'rejected': return 'bad';
      case 'outranked': return 'warn';
      default: return 'neutral';
    }
  }

  function renderSelection(s) {
    var who = s.speaker === 'app' ? 'App intent' : 'User intent';
    var head = el('div', { class: 'sel-head' },
      el('strong', null, who), ' ', el('span', { class: 'muted' }, 'from ' + (s.from || '?')), ' ',
      s.chosen ? badge('→ ' + s.chosen, 'ok') : badge('none chosen', 'warn'));
    var cands = s.candidates || [];
    if (!cands.length) return el('div', { class: 'selection' }, head, el('p', { class: 'muted small' }, 'No candidates.'));
    var tbody = el('tbody');
    cands.forEach(function (c) {
      var why = [];
      if (c.reason) why.push(el('div', null, c.reason));
      else if (c.outcome === 'not reached') why.push(el('div', { class: 'muted' }, 'an earlier intent was chosen first'));
      else if (c.outcome === 'outranked') why.push(el('div', { class: 'muted' }, 'accepted, but ranked lower'));
      if (c.condition) {
        why.push(el('div', { class: 'cond' }, el('code', null, c.condition.source || ''),
          c.condition.pos ? el('span', { class: 'muted small' }, ' at ' + c.condition.pos) : null,
          c.condition.error ? el('div', { class: 'err-text' }, c.condition.error) : null));
      }
      if (c.attributes && Object.keys(c.attributes).length) why.push(el('div', { class: 'small' }, 'attributes: ', el('code', null, JSON.stringify(c.attributes))));
      var interp = c.interpreter ? c.interpreter + (c.confidence ? ' (' + c.confidence.toFixed(2) + ')' : '') : (c.confidence ? c.confidence.toFixed(2) : '');
      tbody.append(el('tr', { class: 'cand cand-' + (c.outcome || '').replace(/\s+/g, '-'), 'data-intent': c.intent },
        el('td', null, el('code', null, c.intent || '?')),
        el('td', { class: 'small' }, [c.conversation, c.scene, c.turn].filter(Boolean).join(' / ')),
        el('td', { class: 'small' }, interp),
        el('td', null, badge(c.outcome || '?', outcomeKind(c.outcome))),
        el('td', { class: 'small' }, why)));
    });
    return el('div', { class: 'selection' }, head,
      el('div', { class: 'table-wrap' }, el('table', { class: 'cands' },
        el('thead', null, el('tr', null, el('th', null, 'Intent'), el('th', null, 'Turn'),
          el('th', null, 'Interpreter'), el('th', null, 'Outcome'), el('th', null, 'Why'))), tbody)));
  }

  function callOutcomeKind(o) { return o === 'ok' ? 'ok' : (o === 'unsuccessful' || o === 'breaker_open' ? 'warn' : 'bad'); }

  function renderCall(c) {
    var status = c.status ? String(c.status) : 'no status';
    var node = el('div', { class: 'trace-call', 'data-testid': 'trace-call', 'data-outcome': c.outcome || '' },
      el('div', { class: 'call-head' },
        el('code', { class: 'call-method' }, c.method || '?'), ' ',
        el('code', { class: 'call-url' }, c.url || '?'), ' ',
        badge(status, c.status >= 200 && c.status < 300 ? 'ok' : (c.status ? 'bad' : 'neutral')), ' ',
        badge(c.outcome || '?', callOutcomeKind(c.outcome)), ' ',
        el('span', { class: 'muted small' }, (c.attempts || 0) + ' attempt' + (c.attempts === 1 ? '' : 's') + ' · ' + formatDuration(c.duration_ns))));
    if (c.error) node.append(el('p', { class: 'err-text' }, c.error));
    if (c.headers && Object.keys(c.headers).length) {
      node.append(el('details', null, el('summary', null, 'Request headers'), kvTable(c.headers)));
    }
    node.append(el('div', { class: 'call-bodies' },
      el('div', null, el('div', { class: 'label' }, 'Request'), c.request !== undefined ? el('pre', { class: 'body' }, pretty(c.request)) : el('p', { class: 'muted small' }, 'no body')),
      el('div', null, el('div', { class: 'label' }, 'Response'), c.response !== undefined ? el('pre', { class: 'body' }, pretty(c.response)) : el('p', { class: 'muted small' }, 'no body'))));
    return node;
  }

  function renderAction(a) {
    var state = a.skipped ? badge('skipped', 'warn') : (a.success ? badge('success', 'ok') : badge('failed', 'bad'));
    var node = el('div', { class: 'trace-action', 'data-testid': 'trace-action', 'data-action': a.action || '' },
      el('div', { class: 'action-head' },
        el('strong', null, a.action || '?'), ' ', el('span', { class: 'muted small' }, (a.kind || '?') + ' action on ' + (a.intent || '?')), ' ',
        state, ' ', el('span', { class: 'muted small' }, formatDuration(a.duration_ns))));
    if (a.error) node.append(el('p', { class: 'err-text' }, a.error));
    node.append(el('div', { class: 'io' },
      el('div', null, el('div', { class: 'label' }, 'Inputs'), kvTable(a.inputs, null, 'none')),
      el('div', null, el('div', { class: 'label' }, 'Outputs written'), kvTable(a.outputs, null, 'none'))));
    (a.calls || []).forEach(function (c) { node.append(renderCall(c)); });
    return node;
  }

  function renderTrace(t, i, n) {
    var key = traceKey(t, i);
    var open = key in traceOpen ? traceOpen[key] : i === n - 1;
    var chosen = (t.selections || []).map(function (s) { return s.chosen; }).filter(Boolean);
    var failed = (t.actions || []).some(function (a) { return !a.success || a.skipped; }) || (t.errors && t.errors.length);
    var summary = el('summary', null,
      el('span', { class: 'turn-no' }, '#' + (i + 1)), ' ',
      el('span', { class: 'turn-utt' }, utteranceText(t.utterance)),
      chosen.length ? el('span', { class: 'turn-chosen' }, ' → ' + chosen.join(', ')) : el('span', { class: 'turn-chosen' }, ' → no intent'),
      (t.actions && t.actions.length) ? [' ', badge(t.actions.length + ' action' + (t.actions.length === 1 ? '' : 's'), failed ? 'bad' : 'ok')] : null,
      el('span', { class: 'turn-time muted small' }, formatTime(t.time) + ' · ' + formatDuration(t.duration_ns)));
    var body = el('div', { class: 'trace-body' },
      el('dl', { class: 'trace-meta' },
        el('dt', null, 'From'), el('dd', null, positionText(t.start)),
        el('dt', null, 'To'), el('dd', null, positionText(t.end)),
        el('dt', null, 'Version'), el('dd', { title: t.config_version || '' }, el('code', null, shortVersion(t.config_version)))));
    body.append(el('h3', null, 'Intents considered'));
    if (t.selections && t.selections.length) t.selections.forEach(function (s) { body.append(renderSelection(s)); });
    else body.append(el('p', { class: 'muted small' }, 'No selection.'));
    body.append(el('h3', null, 'Actions'));
    if (t.actions && t.actions.length) t.actions.forEach(function (a) { body.append(renderAction(a)); });
    else body.append(el('p', { class: 'muted small' }, 'No action ran.'));
    if (t.events && t.events.length) {
      body.append(el('h3', null, 'Events'), el('ul', { class: 'events' }, t.events.map(function (e) { return el('li', null, e); })));
    }
    if (t.errors && t.errors.length) {
      body.append(el('h3', null, 'Errors'), el('ul', { class: 'events err-text' }, t.errors.map(function (e) { return el('li', null, e); })));
    }
    var d = el('details', { class: 'trace' + (failed ? ' trace-failed' : ''), 'data-testid': 'trace' }, summary, body);
    d.open = open;
    d.addEventListener('toggle', function () { traceOpen[key] = d.open; });
    return d;
  }

  function renderTraces(traces) {
    var box = $('traces');
    if (!traces.length) {
      box.replaceChildren(el('p', { class: 'muted' }, 'No turns yet for this user.'));
      $('traces-count').textContent = '';
      return;
    }
    // The newest turn, then the older ones in a group that collapses as one.
    var nodes = [renderTrace(traces[traces.length - 1], traces.length - 1, traces.length)];
    if (traces.length > 1) {
      var older = el('details', { class: 'older-traces', 'data-testid': 'older-traces' },
        el('summary', null, 'Older turns (' + (traces.length - 1) + ')'));
      for (var i = traces.length - 2; i >= 0; i--) older.append(renderTrace(traces[i], i, traces.length));
      older.open = olderOpen;
      older.addEventListener('toggle', function () { olderOpen = older.open; });
      nodes.push(older);
    }
    box.replaceChildren.apply(box, nodes);
    $('traces-count').textContent = traces.length + ' turn' + (traces.length === 1 ? '' : 's') + ', newest first';
  }

  function refreshTraces() {
    var uid = currentUser();
    if (!uid) return Promise.resolve();
    return request('GET', userPath(uid, '/traces'), undefined).then(function (data) {
      if (uid !== currentUser()) return;
      var traces = data && Array.isArray(data.traces) ? data.traces : (Array.isArray(data) ? data : null);
      if (!traces) throw new APIError('GET ' + userPath(uid, '/traces') + ': the answer has no "traces" list', 200, 'invalid_response');
      renderTraces(traces);
    }).catch(function (err) {
      if (uid !== currentUser()) return;
      if (err.status === 404) { renderTraces([]); return; }
      $('traces-count').textContent = 'not updated: see Problems';
      reportError(err);
    });
  }

  // -------------------------------------------------------------- scenarios

  function renderScenarios(s) {
    var box = $('scenario-status');
    var parts = [el('span', { class: 'status-item', title: s.version || '' }, 'Version ', el('code', { 'data-testid': 'scenario-version' }, shortVersion(s.version)))];
    var list = Array.isArray(s.scenarios) ? s.scenarios : [];
    if (list.length) {
      parts.push(el('span', { class: 'status-item' }, list.map(function (sc) {
        return el('span', { class: 'scenario-name' + (sc.active ? ' active' : ' inactive'), title: (sc.description || '') + (sc.active ? '' : ' (inactive)') }, sc.name);
      })));
    } else {
      parts.push(el('span', { class: 'status-item muted' }, 'no scenarios'));
    }
    var r = s.reload;
    if (r) {
      var kind = r.outcome === 'rejected' ? 'bad' : (r.outcome === 'applied' ? 'ok' : 'neutral');
      parts.push(el('span', { class: 'status-item', 'data-testid': 'reload-status', title: r.error || '' },
        'Last reload ', badge(r.outcome || '?', kind), ' ', el('span', { class: 'muted small' }, formatTime(r.time))));
    } else {
      parts.push(el('span', { class: 'status-item muted small' }, 'no reload yet'));
    }
    box.replaceChildren.apply(box, parts);

    var diags = Array.isArray(s.diagnostics) ? s.diagnostics : [];
    var dbox = $('diagnostics');
    if (r && r.outcome === 'rejected' || diags.length) {
      var items = diags.map(function (d) {
        var where = d.file ? d.file + (d.line ? ':' + d.line + (d.col ? ':' + d.col : '') : '') : '';
        return el('li', null, where ? el('code', null, where) : null, where ? ' ' : null,
          d.code ? el('span', { class: 'badge badge-bad' }, d.code) : null, ' ', d.message || '');
      });
      if (!items.length && r && r.error) items.push(el('li', null, r.error));
      dbox.replaceChildren(el('strong', null, 'The last reload was rejected; the previous version keeps serving.'), el('ul', null, items));
      dbox.hidden = false;
    } else {
      dbox.replaceChildren();
      dbox.hidden = true;
    }
  }

  // ------------------------------------------------------------------- chat

  var queue = Promise.resolve();
  var busy = 0;

  function currentUser() { return $('user-id').value.trim(); }

  function setBusy(delta) {
    busy += delta;
    $('chat-busy').hidden = busy <= 0;
  }

  function chatLog() { return $('chat-log'); }

  function scrollChat() { var log = chatLog(); log.scrollTop = log.scrollHeight; }

  function clearEmpty() {
    var e = chatLog().querySelector('.chat-empty');
    if (e) e.remove();
  }

  function appendSystem(text, kind) {
    clearEmpty();
    chatLog().append(el('div', { class: 'msg-system' + (kind ? ' msg-system-' + kind : ''), 'data-testid': 'system-message' }, text));
    scrollChat();
  }

  function appendUser(text, isButton) {
    clearEmpty();
    chatLog().append(el('div', { class: 'msg msg-user', 'data-testid': 'user-message' },
      el('div', { class: 'who visually-hidden' }, 'You said:'),
      el('div', { class: 'bubble' + (isButton ? ' bubble-choice' : '') }, text)));
    scrollChat();
  }

  // buttonBar renders a message's buttons: callback buttons send a
  // button_response (once: the bar is disabled after a press, as the widget's
  // clear_after_interaction), link buttons are links, a download button
  // fetches the transcript.
  function buttonBar(buttons) {
    var bar = el('div', { class: 'buttons', role: 'group', 'aria-label': 'Replies' });
    buttons.forEach(function (b) {
      if (b.display === false) return;
      if (b.link) {
        bar.append(el('a', { class: 'btn bot-button bot-link', 'data-testid': 'bot-link', href: b.link,
          target: b.link_new_tab ? '_blank' : '_self', rel: 'noopener' }, b.text || b.link));
        return;
      }
      if (b.download) {
        var dl = el('button', { type: 'button', class: 'btn bot-button', 'data-testid': 'bot-download' }, b.text || 'Download');
        dl.addEventListener('click', function () { downloadTranscript(); });
        bar.append(dl);
        return;
      }
      var btn = el('button', {
        type: 'button', class: 'btn bot-button', 'data-testid': 'bot-button',
        'data-callback-id': b.callback_id || '', 'data-value': b.value == null ? '' : b.value
      }, b.text || b.callback_id || '(button)');
      btn.addEventListener('click', function () {
        Array.prototype.forEach.call(bar.querySelectorAll('button'), function (x) { x.disabled = true; });
        btn.classList.add('chosen');
        sendTurn({ type: 'button_response', callback_id: b.callback_id || '', data: { text: b.text || '', value: b.value == null ? null : b.value } },
          b.text || b.callback_id, true).then(function (ok) {
          if (!ok) {
            btn.classList.remove('chosen');
            Array.prototype.forEach.call(bar.querySelectorAll('button'), function (x) { x.disabled = false; });
          }
        });
      });
      bar.append(btn);
    });
    return bar;
  }

  function image(src, link, newTab) {
    var img = el('img', { class: 'msg-image', src: src, alt: '' });
    if (!link) return img;
    return el('a', { href: link, target: newTab ? '_blank' : '_self', rel: 'noopener' }, img);
  }

  // formView renders a form message: its fields, submit and cancel; a
  // submission sends a form_response with each field's value, as the widget does.
  function formView(d) {
    var form = el('form', { class: 'msg-form', 'data-testid': 'bot-form' });
    var inputs = {};
    (d.elements || []).forEach(function (f) {
      var id = 'f-' + Math.random().toString(36).slice(2);
      var label = el('label', { for: id }, (f.display || f.name) + (f.required ? ' *' : ''));
      var input;
      var opts = f.options || {};
      var pairs = Array.isArray(opts) ? opts.map(function (o) { return [o.key, o.value]; })
        : Object.keys(opts).map(function (k) { return [k, opts[k]]; });
      if (f.element_type === 'textarea') input = el('textarea', { id: id, name: f.name });
      else if (pairs.length && f.element_type !== 'checkbox') {
        input = el('select', { id: id, name: f.name }, el('option', { value: '' }, ''));
        pairs.forEach(function (p) { input.append(el('option', { value: p[0] }, p[1])); });
      } else if (f.element_type === 'checkbox') {
        input = el('span', { id: id, class: 'msg-form-checks' });
        pairs.forEach(function (p) {
          input.append(el('label', {}, el('input', { type: 'checkbox', value: p[0] }), ' ' + p[1]));
        });
      } else input = el('input', { id: id, name: f.name, type: f.element_type === 'number' ? 'number' : (f.element_type === 'email' ? 'email' : 'text') });
      if (f.default_value && input.value !== undefined) input.value = f.default_value;
      if (f.required && input.required !== undefined) input.required = true;
      inputs[f.name] = { f: f, input: input };
      form.append(el('div', { class: 'msg-form-field' }, label, input));
    });
    var submit = el('button', { type: 'submit', class: 'btn', 'data-testid': 'form-submit' }, d.submit_text || 'Submit');
    var bar = el('div', { class: 'buttons' }, submit);
    var done = function () { Array.prototype.forEach.call(form.querySelectorAll('input,select,textarea,button'), function (x) { x.disabled = true; }); };
    if (d.cancel_callback) {
      var cancel = el('button', { type: 'button', class: 'btn', 'data-testid': 'form-cancel' }, d.cancel_text || 'Cancel');
      cancel.addEventListener('click', function () {
        done();
        sendTurn({ type: 'form_response', callback_id: d.cancel_callback, data: { text: d.cancel_text || 'Cancel' } }, d.cancel_text || 'Cancel', true);
      });
      bar.append(cancel);
    }
    form.append(bar);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var data = {}, lines = [];
      Object.keys(inputs).forEach(function (name) {
        var x = inputs[name], v;
        if (x.f.element_type === 'checkbox') {
          v = Array.prototype.filter.call(x.input.querySelectorAll('input'), function (c) { return c.checked; })
            .map(function (c) { return c.value; }).join(',');
        } else v = x.input.value;
        data[name] = v;
        lines.push((x.f.display ? x.f.display + ': ' : '') + v);
      });
      data.text = lines.join('\n');
      done();
      sendTurn({ type: 'form_response', callback_id: d.callback_id || '', data: data }, data.text, true);
    });
    return form;
  }

  // longTextView renders a long text message: a text area and its submit, which sends a longtext_response.
  function longTextView(d) {
    var form = el('form', { class: 'msg-form', 'data-testid': 'bot-longtext' });
    var ta = el('textarea', { placeholder: d.placeholder || '', maxlength: d.character_limit || '' });
    if (d.initial_text) ta.value = d.initial_text;
    form.append(ta, el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'btn' }, d.submit_text || 'Submit')));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var text = ta.value;
      Array.prototype.forEach.call(form.querySelectorAll('textarea,button'), function (x) { x.disabled = true; });
      var c = { type: 'longtext_response', data: { text: text } };
      if (d.callback_id) c.callback_id = d.callback_id;
      sendTurn(c, text, false);
    });
    return form;
  }

  // messageBody renders the content of one message of any webchat type.
  function messageBody(type, d, bubble) {
    var buttons = Array.isArray(d.buttons) ? d.buttons : [];
    if (type === 'image') {
      if (d.img_src) bubble.append(image(d.img_src, d.img_link, d.link_new_tab));
      return true;
    }
    if (type === 'rich') {
      if (d.title) bubble.append(el('p', { class: 'msg-title' }, d.title));
      if (d.subtitle) bubble.append(el('p', { class: 'msg-subtitle' }, d.subtitle));
      if (d.text) bubble.append(el('p', { class: 'msg-text' }, d.text));
      if (d.image && d.image.src) bubble.append(image(d.image.src, d.image.url, d.image.link_new_tab));
      if (buttons.length) bubble.append(buttonBar(buttons));
      return true;
    }
    if (type === 'list') {
      if (d.title) bubble.append(el('p', { class: 'msg-title' }, d.title));
      var list = el('div', { class: 'msg-list msg-list-' + (d.view_type || 'horizontal'), 'data-testid': 'bot-list' });
      (d.items || []).forEach(function (it) {
        var item = el('div', { class: 'msg-list-item' });
        messageBody(it.message_type, it, item);
        list.append(item);
      });
      bubble.append(list);
      return true;
    }
    if (d.text) bubble.append(el('p', { class: 'msg-text' }, d.text));
    if (type === 'form') { bubble.append(formView(d)); return true; }
    if (type === 'long_text') { bubble.append(longTextView(d)); return true; }
    if (buttons.length) bubble.append(buttonBar(buttons));
    return !!(d.text || buttons.length);
  }

  function appendBot(m) {
    clearEmpty();
    var d = (m && m.data) || {};
    var bubble = el('div', { class: 'bubble' });
    if (!messageBody(m && m.type, d, bubble)) {
      bubble.append(el('pre', { class: 'body' }, (m && m.type ? m.type + ': ' : '') + pretty(d)));
    }
    var meta = [m && m.intent, clock(new Date())].filter(Boolean).join(' · ');
    chatLog().append(el('div', { class: 'msg msg-bot', 'data-testid': 'bot-message', 'data-type': (m && m.type) || '', 'data-intent': (m && m.intent) || '' },
      el('div', { class: 'who visually-hidden' }, 'Bot said:'),
      bubble,
      meta ? el('div', { class: 'msg-meta' }, meta) : null));
    scrollChat();
  }

  // downloadTranscript fetches GET /user/{id}/history/file and saves it.
  function downloadTranscript() {
    var uid = currentUser();
    var headers = {};
    if (adminKey) headers.Authorization = "Bearer " + adminKey;
    fetch('/user/' + encodeURIComponent(uid) + '/history/file', { headers: headers }).then(function (r) {
      if (!r.ok) throw new APIError('GET /user/' + uid + '/history/file: status ' + r.status, r.status, 'download');
      var name = 'transcript.txt';
      var cd = r.headers.get('Content-Disposition') || '';
      var mm = cd.match(/filename="?([^"]+)"?/);
      if (mm) name = mm[1];
      return r.blob().then(function (blob) {
        var a = el('a', { href: URL.createObjectURL(blob), download: name });
        document.body.append(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      });
    }).catch(reportError);
  }

  // answerMessages normalises the webchat answer: one message is a bare
  // object, several an array; false is OpenDialog's empty message.
  function answerMessages(a) {
    if (a && !Array.isArray(a) && typeof a === 'object' && a.author) return [a];
    if (!Array.isArray(a)) return null;
    return a.filter(function (m) { return m && typeof m === 'object'; });
  }

  // sendTurn posts one utterance to the webchat endpoint, shows the answer,
  // then refreshes the context and the traces. Turns are sent one at a time,
  // in order. It resolves to whether the turn succeeded.
  function sendTurn(content, echo, isButton) {
    var uid = currentUser();
    if (!uid) {
      reportError(new Error('Enter a user id before chatting.'));
      $('user-id').focus();
      return Promise.resolve(false);
    }
    if (echo) appendUser(echo, isButton);
    var run = function () {
      setBusy(1);
      var c = { type: content.type, author: uid, data: content.data || {} };
      if (content.callback_id !== undefined) c.callback_id = content.callback_id;
      var body = { notification: 'message', user_id: uid, author: uid, content: c };
      return request('POST', '/incoming/webchat', body).then(function (msgs) {
        msgs = answerMessages(msgs);
        if (!msgs) throw new APIError('POST /incoming/webchat: the answer is neither a message nor a list of messages', 200, 'invalid_response');
        if (uid === currentUser()) {
          msgs.forEach(appendBot);
          if (!msgs.length) appendSystem('The bot did not answer this turn.');
        }
        return true;
      }).catch(function (err) {
        appendSystem('Not sent: ' + err.message, 'error');
        reportError(err);
        return false;
      }).then(function (ok) {
        setBusy(-1);
        if (streamLive) return ok; // the event stream brings the context and the trace
        return Promise.all([refreshContext(), refreshTraces()]).then(function () { return ok; });
      });
    };
    var p = queue.then(run, run);
    queue = p.catch(function () { return false; });
    return p;
  }

  function openChat() {
    appendSystem('Chat opened as ' + currentUser() + ' · ' + clock(new Date()));
    sendTurn({ type: 'chat_open', data: {} });
  }

  function restartChat() {
    appendSystem('Restart requested (' + RESTART_INTENT + ')');
    sendTurn({ type: 'button_response', callback_id: RESTART_INTENT, data: {} });
  }

  // ------------------------------------------------------------- attributes

  function setAttrResult(kind, text) {
    var p = $('attr-result');
    p.className = 'attr-result attr-' + kind;
    p.textContent = text;
  }

  function onSetAttribute(ev) {
    ev.preventDefault();
    var uid = currentUser();
    var key = $('attr-key').value.trim();
    var raw = $('attr-value').value;
    if (!uid) { setAttrResult('error', 'Enter a user id first.'); $('user-id').focus(); return; }
    if (!key) { setAttrResult('error', 'Enter the attribute to set, such as first_name or session.size.'); $('attr-key').focus(); return; }
    // By default the value is sent as typed text, which the server converts
    // to the attribute's declared type ("42" for an int); with "JSON value"
    // it is parsed here and sent as a JSON value.
    var body = { key: key, text: raw };
    var shown = raw;
    if ($('attr-json').checked) {
      try { body = { key: key, value: JSON.parse(raw) }; } catch (e) {
        setAttrResult('error', 'The value is not valid JSON: ' + e.message);
        $('attr-value').focus();
        return;
      }
      shown = JSON.stringify(body.value);
    }
    var btn = $('attr-set');
    btn.disabled = true;
    setAttrResult('pending', 'Setting ' + key + '…');
    request('POST', userPath(uid, '/context'), body).then(function (c) {
      setAttrResult('ok', 'Set ' + key + ' = ' + shown + ' for ' + uid + '.');
      $('attr-key').value = '';
      $('attr-value').value = '';
      $('attr-key').focus();
      if (uid !== currentUser()) return undefined;
      if (c && typeof c === 'object' && c.user) { renderContexts(c, uid); return undefined; }
      return streamLive ? undefined : refreshContext();
    }).catch(function (err) {
      setAttrResult('error', err.message);
    }).then(function () {
      btn.disabled = false;
    });
  }

  // ------------------------------------------------------------------ setup

  // ----------------------------------------------------------- event stream

  var stream = null;      // the AbortController of the open stream
  var streamLive = false; // the stream is open and has sent its first events
  var streamTimer = null;
  var streamErrorShown = null;

  function setLive(state, title) {
    var s = $('live-status');
    s.textContent = state === 'live' ? 'Live' : (state === 'connecting' ? 'Connecting…' : 'Offline: reconnecting');
    s.className = 'live-status live-' + state;
    s.title = title || '';
    streamLive = state === 'live';
  }

  // onEvent renders one server-sent event.
  function onEvent(name, data, uid) {
    if (name === 'scenarios') { renderScenarios(data); return; }
    if (!data || data.user !== uid || uid !== currentUser()) return;
    if (name === 'context') {
      if (data.known && data.contexts) renderContexts(data.contexts, uid); else renderNewUser(uid);
      setLive('live');
    } else if (name === 'traces') {
      renderTraces(Array.isArray(data.traces) ? data.traces : []);
    }
  }

  // connectStream opens (again) the event stream of the current user.
  function connectStream() {
    if (stream) stream.abort();
    if (streamTimer) { window.clearTimeout(streamTimer); streamTimer = null; }
    var ctl = new AbortController();
    stream = ctl;
    var uid = currentUser();
    var path = '/api/events' + (uid ? '?user=' + encodeURIComponent(uid) : '');
    var headers = { 'Accept': 'text/event-stream' };
    var usedKey = adminKey;
    if (usedKey) headers['Authorization'] = 'Bearer ' + usedKey;
    setLive('connecting');
    var retry = function (why) {
      if (ctl.signal.aborted) return;
      setLive('offline', why);
      streamTimer = window.setTimeout(connectStream, STREAM_RETRY_MS);
    };
    fetch(path, { headers: headers, cache: 'no-store', credentials: 'same-origin', signal: ctl.signal }).then(function (res) {
      if (res.status === 401) {
        setLive('offline', 'the server asks for an admin key');
        showKeyForm(usedKey ? 'The server refused this admin key.' : 'The server asks for an admin key to show the scenarios, contexts and traces.');
        return undefined;
      }
      if (!res.ok || !res.body) {
        return res.text().then(function (text) {
          var msg = 'GET ' + path + ' → ' + res.status;
          try { var e = JSON.parse(text).error; if (e) msg += ' ' + e.code + ': ' + e.message; } catch (x) { /* not JSON */ }
          if (streamErrorShown !== msg) { streamErrorShown = msg; reportError(new APIError(msg, res.status, 'stream')); }
          if (res.status === 403 || res.status === 400) { setLive('offline', msg); return; } // trying again cannot help
          retry(msg);
        });
      }
      streamErrorShown = null;
      if (!uid) setLive('live');
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buf = '';
      var pump = function () {
        return reader.read().then(function (r) {
          if (r.done) { retry('the stream ended'); return undefined; }
          buf += decoder.decode(r.value, { stream: true });
          var at;
          while ((at = buf.indexOf('\n\n')) >= 0) {
            var block = buf.slice(0, at);
            buf = buf.slice(at + 2);
            var name = 'message';
            var data = [];
            block.split('\n').forEach(function (line) {
              if (line.slice(0, 6) === 'event:') name = line.slice(6).trim();
              else if (line.slice(0, 5) === 'data:') data.push(line.slice(5).replace(/^ /, ''));
            });
            if (!data.length) continue; // a heartbeat
            var value;
            try { value = JSON.parse(data.join('\n')); } catch (e) { reportError(new Error('an event ' + name + ' that is not JSON')); continue; }
            if (!ctl.signal.aborted) onEvent(name, value, uid);
          }
          return pump();
        });
      };
      return pump();
    }).catch(function (err) {
      if (!ctl.signal.aborted) retry('could not reach the server (' + (err && err.message ? err.message : err) + ')');
    });
  }

  function refreshAll() {
    connectStream();
  }

  function onUserChange() {
    var uid = currentUser();
    if (uid) store.set(USER_STORAGE, uid);
    lastContexts = null;
    traceOpen = {};
    olderOpen = false;
    chatLog().replaceChildren(el('p', { class: 'chat-empty muted' }, 'Press Open chat to start a conversation as ' + (uid || 'this user') + '.'));
    connectStream();
  }

  function init() {
    // A strip for reload diagnostics, under the header.
    var diag = el('div', { id: 'diagnostics', class: 'diagnostics', role: 'status', 'data-testid': 'diagnostics', hidden: true });
    document.querySelector('.topbar').after(diag);

    setKey(store.get(KEY_STORAGE));
    readKeyFromFragment();
    var savedUser = store.get(USER_STORAGE);
    $('user-id').value = savedUser || $('user-id').value || DEFAULT_USER;

    $('admin-key').addEventListener('click', function () {
      if ($('key-form').hidden) showKeyForm(''); else hideKeyForm();
    });
    $('key-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      setKey($('key-input').value.trim());
      $('key-input').value = '';
      hideKeyForm();
      refreshAll();
    });
    $('key-forget').addEventListener('click', function () {
      setKey('');
      hideKeyForm();
      refreshAll();
    });
    $('key-cancel').addEventListener('click', hideKeyForm);
    $('refresh-all').addEventListener('click', function () { refreshAll(); });
    $('errors-clear').addEventListener('click', function () { $('error-list').replaceChildren(); $('errors').hidden = true; });
    $('open-chat').addEventListener('click', openChat);
    $('restart-chat').addEventListener('click', restartChat);
    $('clear-chat').addEventListener('click', function () {
      chatLog().replaceChildren(el('p', { class: 'chat-empty muted' }, 'Transcript cleared. The user\'s state on the server is unchanged.'));
    });
    $('user-id').addEventListener('change', onUserChange);
    $('chat-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var input = $('chat-input');
      var text = input.value.trim();
      if (!text) return;
      input.value = '';
      sendTurn({ type: 'text', data: { text: text } }, text);
    });
    $('attr-form').addEventListener('submit', onSetAttribute);

    // One stream brings the scenario status and the user's panels, and
    // pushes every change: no polling.
    connectStream();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
